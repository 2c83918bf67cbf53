"""SMS text rules shared by every SMS adapter: GSM-7, at most two segments per message."""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import Counter

from channels.gsm7 import segments, to_gsm7

# A reply fits in at most 2 segments (306 GSM-7 characters); longer text becomes several SMS.
MAX_SEGMENTS = 2
SEGMENTS_SENT = Counter("sigap_sms_segments_total", "SMS segments handed to a provider", ["channel"])


def fits_sms(text: str) -> bool:
    """At most MAX_SEGMENTS segments."""
    return segments(text) <= MAX_SEGMENTS


def fits_operator_sms(text: str) -> bool:
    """An operator's reply goes out as one GSM-7 SMS of at most MAX_SEGMENTS segments."""
    return fits_sms(to_gsm7(text))


def split_sms(text: str) -> list[str]:
    """A reply as GSM-7 SMS bodies of at most MAX_SEGMENTS segments each, nothing dropped."""
    return split_text(to_gsm7(text), fits_sms)


def split_text(text: str, fits: Callable[[str], bool]) -> list[str]:
    """Split text into parts that each `fits`, at sentence, else word, boundaries; nothing lost.
    A text with nothing to split (empty) comes back as it is, so there is always one part."""
    parts: list[str] = []
    rest = _fill("", text.strip(), fits, parts, 0)
    if rest.strip():
        parts.append(rest.strip())
    return parts or [text]


# Cut points, coarse to fine: after a sentence (punctuation then space, or a line end),
# after a word, and only for a single word longer than a whole part, anywhere.
_UNITS: tuple[Callable[[str], list[str]], ...] = (
    lambda text: [unit for unit in re.findall(r".*?(?:[.!?]+(?=\s)|\n|$)\s*", text, re.S) if unit],
    lambda text: re.findall(r"\S+\s*|\s+", text),
    list,
)


def _fill(current: str, text: str, fits: Callable[[str], bool], parts: list[str], level: int) -> str:
    """Append text's units to `current`, closing parts as they fill; return the open part."""
    for unit in _UNITS[level](text):
        if fits((current + unit).strip()):
            current += unit
        elif level + 1 == len(_UNITS) or fits(unit.strip()):
            if current.strip():
                parts.append(current.strip())
            current = unit.lstrip()
        else:  # longer than a whole part: cut it finer, starting in the open part
            current = _fill(current, unit, fits, parts, level + 1)
    return current
