"""Entity spans: location, people count and injury, indexed on the original text."""

from __future__ import annotations

import re

from nlu.normalise import Normalised, Token
from nlu.types import Entity

# Words that begin a place: street/admin units, landmarks (normalised forms).
PLACE_HEADS = frozenset(
    "jalan gang desa dusun kelurahan kecamatan kabupaten kota perum perumahan komplek "
    "kompleks rt rw km tol blok kampung kp nagari jorong banjar pasar masjid mesjid musholla "
    "mushola sekolah sd smp sma smk puskesmas jembatan spbu terminal stasiun alun pantai "
    "sungai kali gunung bukit lapangan indomaret alfamart gereja pura vihara kantor rs rsud "
    "hotel mall perempatan pertigaan simpang bundaran lampu street road st jl avenue village "
    "district beach bridge market mosque hospital school station junction highway kampus "
    "pelabuhan bandara tpu makam".split()
)
RELATIONAL = frozenset(
    "depan dekat belakang samping seberang sebelah sekitar near behind opposite across "
    "beside outside inside".split()
)
LEAD_INS = frozenset("di ning nang neng ing at in daerah lokasi alamat wilayah kawasan".split())
# Words that end a place phrase: the report goes on about something else.
STOPS = frozenset(
    "ada apinya api tolong cepat korban sudah belum yang ini itu please help there is are "
    "and dan tapi sama saya kami lagi sekarang parah segera mohon banyak kebakaran kecelakaan "
    "banjir longsor pingsan luka terbakar tabrakan orang we i he she they it has have was "
    "with asap airnya pak bu tidak the a an terjadi kena".split()
)
ABBREVIATIONS = frozenset("jl jln gg ds dsn kel kec kab no rt rw kp perum st rd prov kav".split())
MAX_PLACE_TOKENS = 14
# Nouns that follow a number in a head count ("3 orang"): the number is not an address.
COUNTED = frozenset("orang korban anak warga people persons victims jiwa penumpang".split())

_NUMBER_WORDS = (
    r"\d+|satu|dua|tiga|empat|lima|enam|tujuh|delapan|sembilan|sepuluh|belasan|puluhan|"
    r"beberapa|banyak|one|two|three|four|five|six|seven|eight|nine|ten|several|many|"
    r"loro|telu|papat|limo|hiji|dua|tilu|opat"
)
PEOPLE_COUNT = re.compile(
    rf"\b(?:{_NUMBER_WORDS})\s+(?:orang|org|korban|anak|warga|penumpang|pengendara|jiwa|kk|"
    r"people|persons?|kids|children|victims|passengers|wong|jalma)\b",
    re.IGNORECASE,
)
INJURY = re.compile(
    r"\b(?:luka(?:-luka)?(?: parah| berat| ringan| bakar| robek)?|patah (?:kaki|tangan|tulang)"
    r"|berdarah(?:-darah)?|pingsan|tidak (?:sadar|bernapas|bernafas)|gak napas|ga napas"
    r"|terjepit|kejepit|tertimbun|luka bakar|injured|hurt|bleeding|broken (?:leg|arm|bones?)"
    r"|unconscious|not breathing|burns?|semaput|keseleo)\b",
    re.IGNORECASE,
)


def extract(normalised: Normalised) -> list[Entity]:
    """Location, people-count and injury entities of a message."""
    text = normalised.original
    entities = [
        Entity("people_count", m.group(), m.start(), m.end(), 0.8, "RegexEntityExtractor")
        for m in PEOPLE_COUNT.finditer(text)
    ]
    entities += [
        Entity("injury", m.group(), m.start(), m.end(), 0.8, "RegexEntityExtractor")
        for m in INJURY.finditer(text)
    ]
    place = _place(normalised)
    if place:
        entities.insert(0, place)
    return entities


def _place(normalised: Normalised) -> Entity | None:
    tokens = normalised.tokens
    best: tuple[int, int] | None = None
    i = 0
    while i < len(tokens):
        start = _place_start(normalised, i)
        if start is None:
            i += 1
            continue
        end = _place_end(normalised, start)
        # "di jalan" (on the road) or "dekat" alone names no place.
        named = end - start >= 2 or _capitalised(normalised, normalised.tokens[start])
        if named and (best is None or end - start > best[1] - best[0]):
            best = (start, end)
        i = max(end, i + 1)
    if best is None:
        return None
    first, last = tokens[best[0]], tokens[best[1] - 1]
    value = normalised.original[first.start : last.end]
    return Entity("location", value, first.start, last.end, 0.7, "LocationSpanExtractor")


def _place_start(normalised: Normalised, i: int) -> int | None:
    token = normalised.tokens[i]
    if token.text in PLACE_HEADS or token.text in RELATIONAL:
        return i
    if token.text in LEAD_INS and i + 1 < len(normalised.tokens):
        following = normalised.tokens[i + 1]
        if following.text in STOPS or not following.text[0].isalnum():
            return None
        if _capitalised(normalised, following) or following.text in PLACE_HEADS | RELATIONAL:
            return i + 1
    return None


def _place_end(normalised: Normalised, start: int) -> int:
    tokens = normalised.tokens
    j = start + 1
    while j < len(tokens) and j - start < MAX_PLACE_TOKENS:
        token = tokens[j]
        if token.text in STOPS and tokens[j - 1].text not in PLACE_HEADS | RELATIONAL:
            break
        if token.text.isdigit() and j + 1 < len(tokens) and tokens[j + 1].text in COUNTED:
            break
        if not token.text[0].isalnum() and not _joins(normalised, j):
            break
        j += 1
    while j > start and not tokens[j - 1].text[0].isalnum():
        j -= 1
    return j


def _joins(normalised: Normalised, j: int) -> bool:
    """Punctuation inside a place: `Jl. X`, `No. 5`, `Soekarno-Hatta`, `X, Kendal`, `3/5`."""
    tokens = normalised.tokens
    if j + 1 >= len(tokens):
        return False
    mark, before, after = tokens[j].text, tokens[j - 1], tokens[j + 1]
    raw_before = normalised.original[before.start : before.end].lower()
    if mark == "." and raw_before in ABBREVIATIONS:
        return True
    if mark in {"-", "/"} and after.start == tokens[j].end:
        return True
    if mark == ",":
        return after.text in PLACE_HEADS or _capitalised(normalised, after)
    return False


def _capitalised(normalised: Normalised, token: Token) -> bool:
    raw = normalised.original[token.start : token.end]
    return raw[:1].isupper() and not raw.isupper() or raw.isdigit()
