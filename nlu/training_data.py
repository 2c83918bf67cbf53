"""Read Rasa YAML NLU data (data/nlu/*.yml): intents, retrieval intents and entity spans."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

# Rasa's inline entity annotation: [span](entity)
_ANNOTATION = re.compile(r"\[(?P<span>[^\]]+)\]\((?P<entity>[a-z_]+)\)")


class TrainingDataError(ValueError):
    """A training file does not follow Rasa's NLU YAML format."""


@dataclass(frozen=True)
class Span:
    """An annotated entity in a plain example text."""

    entity: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Example:
    """One training message: intent, emergency type (retrieval intent) and entity spans."""

    text: str
    intent: str
    emergency_type: str | None
    spans: tuple[Span, ...]


def parse_example(annotated: str) -> tuple[str, tuple[Span, ...]]:
    """Strip `[span](entity)` annotations, returning the text and the spans in it."""
    text, spans, cursor = "", [], 0
    for match in _ANNOTATION.finditer(annotated):
        text += annotated[cursor : match.start()]
        start = len(text)
        text += match.group("span")
        spans.append(Span(match.group("entity"), start, len(text), match.group("span")))
        cursor = match.end()
    text += annotated[cursor:]
    return text, tuple(spans)


def load_file(path: Path) -> list[Example]:
    """Examples of one Rasa NLU YAML file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for block in raw.get("nlu", []):
        if "intent" not in block:
            continue  # synonyms, lookup tables and regexes are read elsewhere
        intent, _, subtype = str(block["intent"]).partition("/")
        lines = str(block.get("examples", "")).splitlines()
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if not line.startswith("- "):
                raise TrainingDataError(f"{path}: example line must start with '- ': {line!r}")
            text, spans = parse_example(line[2:].strip())
            examples.append(Example(text, intent, subtype or None, spans))
    return examples


def data_files(data_dir: Path) -> list[Path]:
    """The NLU training files, in a stable order."""
    return sorted((data_dir / "nlu").glob("*.yml"))


def load_dir(data_dir: Path) -> list[Example]:
    """Every example under data/nlu/."""
    return [example for path in data_files(data_dir) for example in load_file(path)]


def fingerprint(paths: list[Path], salt: str) -> str:
    """A short hash of training files and config: names the model trained from them."""
    digest = hashlib.sha256(salt.encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
