"""Critical cues: signs that a life is at stake right now, found from a lexicon."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from nlu.normalise import Normalised

CUES_PATH = Path(__file__).resolve().parent / "data" / "cues.yml"


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    raw = yaml.safe_load(CUES_PATH.read_text(encoding="utf-8"))
    return {
        cue: re.compile(r"\b(?:" + "|".join(phrases) + r")\b")
        for cue, phrases in raw["cues"].items()
    }


def detect(normalised: Normalised) -> list[str]:
    """Names of the critical cues in a message (sorted, no repeats)."""
    text = normalised.text
    return sorted(cue for cue, pattern in _patterns().items() if pattern.search(text))
