"""Critical cues: signs that a life is at stake right now, found from a lexicon."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlu.normalise import Normalised

CUES_PATH = Path(__file__).resolve().parent / "data" / "cues.yml"


def _any(phrases: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(phrases) + r")\b")


@lru_cache(maxsize=1)
def _patterns() -> dict[str, list[re.Pattern[str]]]:
    """Per cue, the patterns that must all match (one, unless the cue is an `all:` cue)."""
    raw: dict[str, Any] = yaml.safe_load(CUES_PATH.read_text(encoding="utf-8"))["cues"]
    return {
        cue: [_any(group) for group in spec["all"]] if isinstance(spec, dict) else [_any(spec)]
        for cue, spec in raw.items()
    }


def names() -> list[str]:
    """Every cue the lexicon knows."""
    return sorted(_patterns())


def detect(normalised: Normalised) -> list[str]:
    """Names of the critical cues in a message (sorted, no repeats)."""
    text = normalised.text.replace(" ' ", "'")  # the normaliser splits "can't" into three tokens
    return sorted(
        cue for cue, patterns in _patterns().items() if all(p.search(text) for p in patterns)
    )
