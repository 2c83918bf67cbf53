"""Normalise Indonesian chat language while keeping offsets into the original text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

LEXICON_PATH = Path(__file__).resolve().parent / "data" / "slang.yml"
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]", re.UNICODE)
_REPEATS = re.compile(r"(.)\1{2,}")
# Digits glued to letters split into tokens ("no10", "rt03", "3org").
_GLUED = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")


@dataclass(frozen=True)
class Token:
    """A normalised token and the span of the original text it came from."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Normalised:
    """The normalised form of a message."""

    original: str
    tokens: tuple[Token, ...]

    @property
    def text(self) -> str:
        """Normalised tokens joined by spaces (what the classifiers read)."""
        return " ".join(t.text for t in self.tokens)


@lru_cache(maxsize=1)
def lexicon() -> dict[str, str]:
    """Slang and shorthand -> standard form (written by the team, nlu/data/slang.yml)."""
    raw = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    mapping: dict[str, str] = {}
    for standard, variants in raw["words"].items():
        for variant in variants:
            mapping[str(variant).lower()] = str(standard)
    return mapping


def normalise(text: str) -> Normalised:
    """Lower-case, squeeze letter repeats, split glued digits and expand shorthand."""
    words = lexicon()
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        raw = match.group().lower()
        pieces = _GLUED.split(raw) if any(c.isdigit() for c in raw) else [raw]
        offset = match.start()
        for piece in pieces:
            if not piece:
                continue
            start = text.lower().find(piece, offset)
            end = start + len(piece)
            offset = end
            word = _REPEATS.sub(r"\1", piece)
            for part in words.get(word, words.get(piece, word)).split():
                tokens.append(Token(part, start, end))
    return Normalised(text, tuple(tokens))
