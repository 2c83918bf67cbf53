"""Entity spans: location, people count and injury, indexed on the original text."""

from __future__ import annotations

import re

from nlu.normalise import Normalised, Token, normalise
from nlu.types import Entity

# Words that begin a place: street/admin units, landmarks (normalised forms).
PLACE_HEADS = frozenset(
    "jalan gang desa dusun kelurahan kecamatan kabupaten kota perum perumahan komplek "
    "kompleks rt rw km tol blok kampung kp nagari jorong banjar pasar masjid mesjid musholla "
    "mushola sekolah sd smp sma smk puskesmas jembatan spbu terminal stasiun alun pantai "
    "sungai kali gunung bukit lapangan indomaret alfamart gereja pura vihara kantor rs rsud "
    "hotel mall perempatan pertigaan simpang bundaran lampu street road st jl avenue village "
    "district beach bridge market mosque hospital school station junction highway kampus "
    "pelabuhan bandara tpu makam sawah kebun ladang hutan sdn smpn sman smkn mts ma ponpes pesantren "
    "dapur kamar wc toilet ruang gudang garasi teras lantai loteng kos kost kontrakan ruko apartemen "
    "kitchen bedroom bathroom room floor villa homestay resort apartemen apartment lobby pool garden "
    "valley camp roundabout tower office club bar cafe restaurant beach hotel warung toko ruko kolam "
    "balong situ tikungan tanjakan turunan panti lemari pabrik gardu got selokan parkiran halaman "
    "lembur kampus asrama pondok tambak empang danau waduk bendungan tebing jurang".split()
)
RELATIONAL = frozenset(
    "depan dekat belakang samping seberang sebelah near behind opposite across "
    "beside outside inside".split()
)
LEAD_INS = frozenset(
    "di ning nang neng ing ndek nok teng at in on daerah lokasi alamat wilayah kawasan sekitar".split()
)
# Words that may open an English place after a lead-in: "in [our villa]", "at [the market]".
DETERMINERS = frozenset("the our my his her their a an this".split())
# Heads that say nothing on their own ("di jalan" = on the road, "di rumah" = at home).
GENERIC = frozenset("jalan gang desa kota kampung rt rw km blok street road village".split())
LANDMARKS = PLACE_HEADS - GENERIC
INTRODUCED_BONUS = 3
ARTICLES = frozenset({"the", "a", "an", "our", "my", "his", "her", "their"})  # "near the Circle K"
# Words that end a place phrase: the report goes on about something else.
STOPS = frozenset(
    "ada apinya api tolong cepat korban sudah belum yang ini itu please help there is are "
    "and dan tapi sama saya kami lagi sekarang parah segera mohon banyak kebakaran kecelakaan "
    "banjir longsor pingsan luka terbakar tabrakan orang we i he she they it has have was "
    "with asap airnya pak bu tidak the a an terjadi kena kita meluap erupsi berlubang tumbang "
    "nutup menutup mati teriak dipukul mukul nangis roboh tenggelam hanyut rusak macet meledak "
    "bocor hilang terguling terbalik keluar masuk mohon tolong bantu help please".split()
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


# Words that say what kind of place, not which one: "sungai", "di jalan", "rumah saya", "dapur",
# "depan indomaret" (there are thousands). A place made only of these (and numbers, relation
# words, pronouns) cannot be found: it goes on the ticket and the bot asks for more.
VAGUE_WORDS = GENERIC | RELATIONAL | LEAD_INS | ARTICLES | frozenset(
    "sungai kali laut pantai sawah kebun ladang hutan gunung bukit rumah pasar masjid mesjid musholla "
    "mushola gereja sekolah kantor toko warung indomaret alfamart alfamidi spbu pom bensin jembatan "
    "perempatan pertigaan simpang lampu merah sini sana situ saya kami kita aku kamu dia nya ku mu "
    "tetangga teman dapur kamar mandi tidur tamu wc toilet ruang gudang garasi teras lantai loteng "
    "atas bawah dalam luar tengah ujung pinggir tepi sd smp sma smk sdn smpn sman smkn kos kost "
    "kontrakan lapangan perumahan perum komplek kompleks gg gang jl jalan no nomor kampung desa "
    "tol river sea beach house home here there my our his her their room kitchen bathroom bedroom "
    "school mosque market shop bridge field forest mountain near side this that yang ini itu".split()
)


# Words that end a place when a tagger runs past it: "Hotel Santika pool [and isn't responding]".
TRAILING = frozenset(
    "and dan tapi but just yesterday today tonight every keeps kept is are was were has have isn "
    "tadi kemarin barusan gara".split()
)


def tidy_span(
    normalised: Normalised, first: int, last: int, hazard_starts: frozenset[int]
) -> tuple[int, int]:
    """A tagged place span made to follow the annotation rule: the relation word and determiner
    before it belong to it ("near Kuta Beach", "our villa"), and it ends before a hazard word or a
    word that goes on about something else ("and", "yesterday")."""
    tokens = normalised.tokens
    while first > 0 and tokens[first - 1].text in RELATIONAL | DETERMINERS:
        first -= 1
    end = first + 1
    while end < last:
        token = tokens[end]
        if token.start in hazard_starts or token.text in TRAILING:
            break
        end += 1
    while end > first and not tokens[end - 1].text[0].isalnum():
        end -= 1
    while first < end and tokens[first].start in hazard_starts:
        first += 1
    return first, end


def covered(normalised: Normalised, spans: list[tuple[int, int]]) -> frozenset[int]:
    """Starts of the tokens that lie inside any of `spans` (character offsets)."""
    return frozenset(t.start for t in normalised.tokens
                     if any(start <= t.start < end for start, end in spans))


def has_place_word(place: str) -> bool:
    """Whether a span holds a word that only places have (a street, a landmark, RT, a relation)."""
    return any(t.text in PLACE_HEADS | RELATIONAL for t in normalise(place).tokens)


def is_vague(place: str) -> bool:
    """A place that names only a kind of place ("sungai", "di rumah", "rt 4", "depan indomaret")."""
    words = [t.text for t in normalise(place).tokens if t.text[0].isalnum()]
    return all(w in VAGUE_WORDS or w.isdigit() or len(w) == 1 for w in words)


def extract(normalised: Normalised, hazard_starts: frozenset[int] = frozenset()) -> list[Entity]:
    """Location, people-count and injury entities of a message; a place never runs on into a
    hazard word (`hazard_starts`: where the hazard words of the message begin)."""
    text = normalised.original
    entities = [
        Entity("people_count", m.group(), m.start(), m.end(), 0.8, "RegexEntityExtractor")
        for m in PEOPLE_COUNT.finditer(text)
    ]
    entities += [
        Entity("injury", m.group(), m.start(), m.end(), 0.8, "RegexEntityExtractor")
        for m in INJURY.finditer(text)
    ]
    place = _place(normalised, hazard_starts)
    if place:
        entities.insert(0, place)
    return entities


def _place(normalised: Normalised, hazard_starts: frozenset[int]) -> Entity | None:
    tokens = normalised.tokens
    best: tuple[int, int, int] | None = None  # (score, start, end)
    i = 0
    while i < len(tokens):
        found = _place_start(normalised, i)
        if found is None:
            i += 1
            continue
        start, introduced = found
        if tokens[start].start in hazard_starts:
            i += 1
            continue  # "Landslide blocked the road": a hazard word is no place
        end = _place_end(normalised, start, hazard_starts)
        if _names_a_place(normalised, start, end, introduced):
            # A place after "di"/"dekat" is likelier the incident's than a noun in passing.
            score = (end - start) + (INTRODUCED_BONUS if introduced else 0)
            if best is None or score > best[0]:
                best = (score, start, end)
        i = max(end, i + 1)
    if best is None:
        return None
    first, last = tokens[best[1]], tokens[best[2] - 1]
    value = normalised.original[first.start : last.end]
    return Entity("location", value, first.start, last.end, 0.7, "LocationSpanExtractor")


def _names_a_place(normalised: Normalised, start: int, end: int, introduced: bool) -> bool:
    """Two words or more, a capitalised name, or a landmark right after "di"."""
    if end - start >= 2:
        return not all(t.text in GENERIC for t in normalised.tokens[start:end])
    token = normalised.tokens[start]
    return _capitalised(normalised, token) or (introduced and token.text in LANDMARKS)


def _place_start(normalised: Normalised, i: int) -> tuple[int, bool] | None:
    """Where a place phrase starts at token i, and whether a lead-in introduced it."""
    tokens = normalised.tokens
    token = tokens[i]
    if token.text in RELATIONAL:
        return i, True
    if token.text in PLACE_HEADS:
        if i + 1 < len(tokens) and tokens[i + 1].text == ",":
            return None  # "jalan, kampung melayu": the head stands alone
        return i, bool(i and tokens[i - 1].text in LEAD_INS)
    if token.text in LEAD_INS and i + 1 < len(tokens):
        following = tokens[i + 1]
        after = tokens[i + 2] if i + 2 < len(tokens) else None
        if following.text in DETERMINERS and after is not None and (
            after.text in PLACE_HEADS or _capitalised(normalised, after)
        ):
            return i + 1, True  # "in our villa", "at the market"
        if following.text in STOPS or not following.text[0].isalnum():
            return None
        if _capitalised(normalised, following) or following.text in PLACE_HEADS | RELATIONAL:
            return i + 1, True
    return None


def _place_end(normalised: Normalised, start: int, hazard_starts: frozenset[int]) -> int:
    tokens = normalised.tokens
    j = start + 1
    while j < len(tokens) and j - start < MAX_PLACE_TOKENS:
        token = tokens[j]
        if token.start in hazard_starts:
            break  # "di Pasa Raya tabaka": the hazard word ends the place
        if token.text in LEAD_INS:
            break  # "jalan di alun-alun": the place is the one after "di"
        if token.text in STOPS and not (
            token.text in ARTICLES and tokens[j - 1].text in RELATIONAL | DETERMINERS | LEAD_INS
        ) and not (token.text in DETERMINERS and j == start):
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
    """A capitalised word that is not just the first of a sentence ("Hello", "Thanks")."""
    raw = normalised.original[token.start : token.end]
    if raw.isdigit():
        return True
    if not (raw[:1].isupper() and not raw.isupper()):
        return False
    return not sentence_start(normalised.original, token.start)


def sentence_start(text: str, at: int) -> bool:
    """Whether position `at` begins the message or a sentence of it."""
    before = text[:at].rstrip()
    return not before or before[-1] in ".!?\n"
