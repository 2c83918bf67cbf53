"""The GSM 7-bit default alphabet (3GPP TS 23.038, section 6.2.1): checks, transliteration, SMS length.

An SMS in GSM-7 holds 160 septets (153 per part once concatenated, the UDH takes the rest);
one character outside the alphabet turns the whole message into UCS-2, 70 characters
(67 per part), and an old phone may show it as boxes. So replies are kept to GSM-7.
"""

from __future__ import annotations

import math
import re
import unicodedata

# TS 23.038 table 6.2.1 (position = septet value). Position 0x1B is ESC, the switch to the
# extension table, not a character of its own.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_ESCAPE = "\x1b"
# TS 23.038 table 6.2.1.1: sent as ESC + one septet, so each counts as two septets.
GSM7_EXTENDED = "\f^{}\\[~]|€"

SINGLE_SMS_SEPTETS = 160
PART_SEPTETS = 153  # a concatenated part: 140 octets less the 6-octet UDH = 153 septets
SINGLE_SMS_UCS2 = 70
PART_UCS2 = 67  # UTF-16 code units per concatenated part

_BASIC = frozenset(GSM7_BASIC) - {GSM7_ESCAPE}
_EXTENDED = frozenset(GSM7_EXTENDED)
# A character of neither table: one search in C, not a Python loop over the text (every reply
# is checked several times while it is split into SMS).
_OUTSIDE = re.compile("[^" + re.escape("".join(sorted(_BASIC | _EXTENDED))) + "]")

# What phones and keyboards put in text that GSM-7 lacks, and its plain equivalent.
_REPLACEMENTS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u2026": "...", "\u2022": "-", "\u00b7": ".", "\u00d7": "x", "\t": " ",
    "\u00a0": " ", "\u2007": " ", "\u2009": " ", "\u202f": " ", "\u3000": " ",
    "\u00e7": "c",  # the table has only the capital (position 0x09)
}


def is_gsm7(text: str) -> bool:
    """True if every character is in the default alphabet or its extension table."""
    return _OUTSIDE.search(text) is None


def septets(text: str) -> int:
    """Septets the text takes in GSM-7: extension characters count two (ESC + char)."""
    return len(text) + sum(map(text.count, GSM7_EXTENDED))


def segments(text: str) -> int:
    """SMS segments: GSM-7 160 septets, else parts of 153; UCS-2 70 units, else parts of 67.

    Like the SMPP channel, a part never splits an ESC pair or a UTF-16 surrogate pair, so
    an extension character or emoji at a part boundary can add a segment beyond the plain
    ceil(length / part size).
    """
    if is_gsm7(text):
        if septets(text) <= SINGLE_SMS_SEPTETS:
            return 1
        sizes = [2 if char in _EXTENDED else 1 for char in text]
        single, part = SINGLE_SMS_SEPTETS, PART_SEPTETS
    else:
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, part = SINGLE_SMS_UCS2, PART_UCS2
    if sum(sizes) <= single:
        return 1
    count, used = 1, 0
    for size in sizes:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return max(count, math.ceil(sum(sizes) / part))


def to_gsm7(text: str) -> str:
    """Text that `is_gsm7`: quotes, dashes and ellipsis made plain, accents dropped, emoji removed.

    A letter or digit of another script that has no plain form becomes "?", so the reader
    sees that something was there; symbols and emoji are dropped.
    """
    if is_gsm7(text):  # what the team wrote, mostly
        return text
    out: list[str] = []
    dropped = False
    for char in text:
        plain = _plain(char)
        if plain is None:
            dropped = True
            continue
        out.append(plain)
    result = "".join(out)
    if dropped:  # "tenang 🙏 dan" must not become "tenang  dan"
        result = re.sub(r" {2,}", " ", result)
        result = re.sub(r" +(?=\n)|(?<=\n) +", "", result).strip(" ")
    return result


def _plain(char: str) -> str | None:
    """One character in GSM-7, "?" for an unknown letter, None to drop it."""
    if char in _BASIC or char in _EXTENDED:
        return char
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    # Accented letters the table lacks (á, ê, ō, ...) and compatibility forms (ﬁ, full-width
    # letters) decompose into plain letters plus combining marks; keep the letters.
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    if base and base != char and is_gsm7(base):
        return base
    if unicodedata.category(char)[0] in "LN":
        return "?"
    return None
