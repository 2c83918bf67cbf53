"""JSON from providers, parsed within bounds: nesting depth, number sizes, no NaN, sane dates.

A signed payload is still untrusted input (a leaked secret, a provider bug): 1,000 levels of
nesting, a 401-digit latitude or a date in the year 3 billion must get a 400, not a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_DEPTH = 32
MAX_INT_DIGITS = 18  # within 64 bits; Telegram's ids use at most 52
# Unix times a provider may send: 1970 to 2100 (Telegram's `date`, `edit_date`, ...).
MAX_UNIX_TIME = 4_102_444_800


class UnsafeJson(ValueError):
    """A body that is not JSON within the bounds above."""


def loads(body: bytes) -> Any:
    """Parse a JSON body, refusing what would break the code that reads it."""
    check_depth(body)
    try:
        return json.loads(body, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnsafeJson(f"not JSON: {error.__class__.__name__}") from None


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than `limit`, in one pass and before anything is parsed."""
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise UnsafeJson(f"nested deeper than {limit}")
        elif byte in (0x5D, 0x7D):
            depth -= 1


def check_dates(value: Any, keys: tuple[str, ...] = ("date",)) -> None:
    """Every field whose name ends in one of `keys` is a Unix time between 1970 and 2100."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(keys) and not (isinstance(item, int) and 0 <= item <= MAX_UNIX_TIME):
                raise UnsafeJson(f"{key} is not a plausible time")
            check_dates(item, keys)
    elif isinstance(value, list):
        for item in value:
            check_dates(item, keys)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise UnsafeJson("a number too large")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UnsafeJson("a number too large")
    return value


def _constant(text: str) -> float:
    raise UnsafeJson(f"{text} is not JSON")
