"""Hazard signals: words that mean danger, calls for help, and the markers that make them a joke.

The lexicon is data written by the team (nlu/data/hazards.yml). Matching is deterministic and
forgiving, because people in panic do not spell: case, letter repeats ("bnjiiirr", "malingg"),
punctuation, words run together ("kebakaranrumah") and one typo in a long word ("kebakaean")
are all read through. nlu/safety.py holds the rule that uses the result.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from nlu.normalise import Normalised, normalise

HAZARDS_PATH = Path(__file__).resolve().parent / "data" / "hazards.yml"
REGIONS_PATH = Path(__file__).resolve().parent / "data" / "regions.csv"
# A word run together with another is found inside it from this many letters on ("banjir").
GLUED_MIN_CHARS = 6
# One typo is forgiven from this many letters on: "banjar" (a place) is not "banjir".
FUZZY_MIN_CHARS = 7
_SQUEEZE = re.compile(r"(.)\1+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


# A word with no vowel at all is matched by its consonants from this many on ("kbkrn", "bnjr";
# not "tlp", a phone number, which is "tilelep" without vowels).
SKELETON_MIN = 4
_VOWELS = re.compile(r"[aeiou]")


def skeleton(word: str) -> str:
    """The consonants of a squeezed word, squeezed again: "kebakaran" and "kbkrn" -> "kbkrn"."""
    return squeeze(_VOWELS.sub("", word))


def squeeze(word: str) -> str:
    """Lower-case and collapse every letter repeat: `TOLOONG` -> `tolong`, `tenggelam` -> `tengelam`."""
    return _SQUEEZE.sub(r"\1", word.lower())


def _phrase(entry: Any) -> tuple[str, ...]:
    return tuple(squeeze(w) for w in _WORD.findall(str(entry)))


@dataclass(frozen=True)
class Hit:
    """A lexicon entry found in a message; start/end index the original text."""

    kind: str  # an emergency type, "help" or "joke"
    term: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"type": self.kind, "term": self.term, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Signals:
    """What the lexicon found in one message."""

    hazards: tuple[Hit, ...] = ()
    help_words: tuple[Hit, ...] = ()
    jokes: tuple[Hit, ...] = ()
    casual: bool = False  # a polite request ("tolong info jadwal"): "tolong" means "please"
    corrects: bool = False  # "bukan kebakaran, ...": the reporter corrects what they said
    also: bool = False  # "ada kebakaran juga": another emergency beside the first
    bare: bool = False  # nothing but help words and fillers ("tolong cepat!!")
    # The hazard is not happening now: last year's flood, a fire-safety course, a film.
    not_now: bool = False

    denied: tuple[str, ...] = ()  # "bukan tsunami, ...": types the reporter says it is not

    @property
    def types(self) -> list[str]:
        """Emergency types the hazard words point to, in order of appearance, but those denied."""
        return [kind for kind in dict.fromkeys(hit.kind for hit in self.hazards)
                if kind not in self.denied]

    @property
    def help_call(self) -> bool:
        """A call for help: a help word that is not a polite "please" for a request."""
        return bool(self.help_words) and not self.casual

    @property
    def alarm(self) -> bool:
        """A hazard word or a call for help: the message may never be dismissed."""
        return bool(self.hazards) or self.help_call

    @property
    def joke(self) -> bool:
        """Laughter, "becanda", an idiom: what makes a hazard word a joke."""
        return bool(self.jokes)


@dataclass(eq=False)
class _Table:
    """One kind of entry: phrases by their first word, long words to find inside others."""

    by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = field(default_factory=dict)
    glued: dict[str, tuple[str, str]] = field(default_factory=dict)
    symbols: list[tuple[str, str]] = field(default_factory=list)  # emoji and other non-words

    def add(self, entry: Any, kind: str) -> None:
        """Add one entry of the lexicon."""
        words = _phrase(entry)
        if not words:
            self.symbols.append((str(entry), kind))
            return
        self.by_first.setdefault(words[0], []).append((words, kind, str(entry)))
        if len(words) == 1 and len(words[0]) >= GLUED_MIN_CHARS:
            self.glued.setdefault(words[0], (kind, str(entry)))
        if self.fuzzy and len(words) == 1 and len(skeleton(words[0])) >= SKELETON_MIN:
            self.skeletons.setdefault(skeleton(words[0]), (kind, str(entry)))

    near_cache: dict[str, str | None] = field(default_factory=dict)
    # Only hazard words forgive a typo: "bantuan" (aid) is one letter from "bantuin" (help me).
    fuzzy: bool = False
    # SMS shorthand drops the vowels: "kbkrn" is "kebakaran", "npas" "napas" (hazard words only).
    skeletons: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def inner(self) -> re.Pattern[str] | None:
        """Long single-word entries, longest first, to find inside a word."""
        return _inner(self)

    def near(self, form: str) -> str | None:
        """The single-word entry one typo away from a long word, if there is one."""
        if not self.fuzzy or len(form) < FUZZY_MIN_CHARS:
            return None
        if form not in self.near_cache:
            vocabulary = _vocabulary(self)
            match = process.extractOne(form, vocabulary, scorer=Levenshtein.distance, score_cutoff=1)
            if len(self.near_cache) > 65536:
                self.near_cache.clear()
            self.near_cache[form] = None if match is None else str(match[0])
        return self.near_cache[form]


@lru_cache(maxsize=64)
def _vocabulary(table: _Table) -> tuple[str, ...]:
    return tuple(w for w, entries in table.by_first.items()
                 if len(w) >= FUZZY_MIN_CHARS and any(len(e[0]) == 1 for e in entries))


@lru_cache(maxsize=64)
def _inner(table: _Table) -> re.Pattern[str] | None:
    if not table.glued:
        return None
    return re.compile("|".join(re.escape(w) for w in sorted(table.glued, key=len, reverse=True)))


@dataclass(frozen=True)
class Lexicon:
    """The hazard lexicon, ready to match."""

    hazards: _Table
    excepts: _Table
    help: _Table
    jokes: _Table
    casual: _Table
    corrections: _Table
    also: _Table
    laughter: re.Pattern[str]
    fillers: frozenset[str]
    not_joking: frozenset[str]
    earnest: _Table
    not_now: _Table
    now: _Table
    cue_types: dict[str, str]
    leading_cues: frozenset[str]

    def scan(self, normalised: Normalised) -> Signals:
        """The signals of a message."""
        words = _words(normalised)
        found = _drop_excepted(_find(self.hazards, words, normalised),
                               _find(self.excepts, words, normalised))
        raw = words[1]
        helps = _find(self.help, words, normalised)
        content = [w for w in raw if w.form not in self.fillers
                   and not any(h.start <= w.start and w.end <= h.end for h in helps)]
        jokes = _find(self.jokes, words, normalised) + [
            Hit("joke", w.form, w.start, w.end) for w in raw if self.laughter.fullmatch(w.form)
        ]
        jokes = [hit for hit in jokes if not self._denied(hit, raw, normalised.original)]
        denied_hits = {hit.kind for hit in found if self._denied(hit, raw, normalised.original)}
        denied = tuple(sorted(denied_hits - {hit.kind for hit in found
                                             if not self._denied(hit, raw, normalised.original)}))
        earnest = [hit for hit in _find(self.earnest, words, normalised)
                   if not self._denied(hit, raw, normalised.original)]
        if earnest:  # "beneran", "serius", "for real" (but not "ga beneran")
            jokes = []
        return Signals(
            hazards=tuple(found),
            help_words=tuple(helps),
            jokes=tuple(jokes),
            casual=bool(_find(self.casual, words, normalised)),
            corrects=bool(denied) or bool(_find(self.corrections, words, normalised)),
            also=bool(_find(self.also, words, normalised)),
            bare=not content,
            denied=denied,
            not_now=bool(_find(self.not_now, words, normalised)) and not _find(self.now, words, normalised),
        )

    def _denied(self, hit: Hit, raw: list[_Word], original: str) -> bool:
        """"ini bukan prank", "not a joke", "bukan kebakaran": a marker or a hazard word right
        after a negation is the opposite."""
        before = [w for w in raw if w.end <= hit.start]
        end = hit.start
        while before:
            if original[before[-1].end:end].strip():
                return False  # punctuation between: "ada kebakaran ga? becanda kok"
            if before[-1].form not in _LINKS:
                return before[-1].form in self.not_joking
            end = before.pop().start
        return False

    def all_hazard_terms(self) -> list[tuple[str, str]]:
        """Every (type, entry) of the lexicon: what a test generates messages from."""
        return [(kind, text) for entries in self.hazards.by_first.values() for _w, kind, text in entries]

    def all_help_terms(self) -> list[str]:
        """Every call-for-help entry."""
        return [text for entries in self.help.by_first.values() for _w, _k, text in entries]


@dataclass(frozen=True)
class _Word:
    form: str  # squeezed
    start: int
    end: int


# Words that may stand between a negation and what it denies: "bukan [cuma] prank", "not [a] joke".
_LINKS = frozenset("a an just only cuma cuman sekedar sekadar ini itu lagi sih kok".split())
# Possessive endings: "apinya", "rumahku", "cintamu" are read without them too.
_SUFFIX = re.compile(r"(?<=[a-z]{3})(?:nya|ku|mu)$")


def _words(normalised: Normalised) -> list[list[_Word]]:
    """Three readings of the message: the normalised words (slang expanded), the raw words, and
    the raw words without a possessive ending."""
    expanded = [_Word(squeeze(t.text), t.start, t.end) for t in normalised.tokens if t.text[0].isalnum()]
    raw = [
        _Word(squeeze(m.group()), m.start(), m.end()) for m in _WORD.finditer(normalised.original)
    ]
    stripped = [_Word(_SUFFIX.sub("", w.form), w.start, w.end) for w in raw]
    return [expanded, raw, stripped]


def _find(table: _Table, readings: list[list[_Word]], normalised: Normalised) -> list[Hit]:
    hits: dict[tuple[int, int, str], Hit] = {}

    def add(kind: str, text: str, start: int, end: int) -> None:
        hits.setdefault((start, end, kind), Hit(kind, text, start, end))

    for words in readings:
        for i, word in enumerate(words):
            for phrase, kind, text in table.by_first.get(word.form, ()):
                span = words[i:i + len(phrase)]
                if tuple(w.form for w in span) == phrase:
                    add(kind, text, span[0].start, span[-1].end)
            if word.form in table.by_first or word.form in _place_words():
                continue  # a place name ("Tarakan") is no typo of a hazard ("tabrakan")
            near = table.near(word.form)
            for phrase, kind, text in table.by_first.get(near or "", ()):
                if len(phrase) == 1:
                    add(kind, text, word.start, word.end)
            if table.skeletons and not _VOWELS.search(word.form) and word.form.isalpha():
                found_skeleton = table.skeletons.get(skeleton(word.form))
                if found_skeleton and len(skeleton(word.form)) >= SKELETON_MIN:
                    add(*found_skeleton, word.start, word.end)
            pattern = table.inner
            if pattern is not None and len(word.form) > GLUED_MIN_CHARS:
                for found in pattern.finditer(word.form):
                    kind, text = table.glued[found.group()]
                    add(kind, text, word.start, word.end)
    for symbol, kind in table.symbols:
        at = normalised.original.find(symbol)
        if at >= 0:
            add(kind, symbol, at, at + len(symbol))
    return sorted(hits.values(), key=lambda h: (h.start, h.end))


@lru_cache(maxsize=1)
def _place_words() -> frozenset[str]:
    """One-word names of Indonesian regions (the gazetteer's table), squeezed."""
    names: set[str] = set()
    with REGIONS_PATH.open(encoding="utf-8", newline="") as file:
        rows = [row["name"] for row in csv.DictReader(file)]
    for row in rows:
        name = row.lower().removeprefix("kabupaten ").removeprefix("kota ")
        words = _WORD.findall(name)
        if len(words) == 1:
            names.add(squeeze(words[0]))
    return frozenset(names)


def _drop_excepted(hits: list[Hit], excepted: list[Hit]) -> list[Hit]:
    """A hazard word inside a harmless phrase ("kereta api") is no hazard."""
    def inside(hit: Hit) -> bool:
        return any(e.kind == hit.kind and e.start <= hit.start and hit.end <= e.end for e in excepted)

    return [hit for hit in hits if not inside(hit)]


@lru_cache(maxsize=4)
def load(path: Path = HAZARDS_PATH) -> Lexicon:
    """The lexicon of a hazards file (cached)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    hazards, excepts = _Table(fuzzy=True), _Table()
    for kind, spec in raw["types"].items():
        for entry in spec.get("words") or []:
            hazards.add(entry, kind)
        for entry in spec.get("except") or []:
            excepts.add(entry, kind)
    tables = {name: _Table() for name in ("help_calls", "joke_markers", "casual_requests",
                                          "corrections", "also", "earnest", "not_now", "now")}
    for name, table in tables.items():
        for entry in raw.get(name) or []:
            table.add(entry, name)
    return Lexicon(
        hazards=hazards, excepts=excepts, help=tables["help_calls"], jokes=tables["joke_markers"],
        casual=tables["casual_requests"], corrections=tables["corrections"], also=tables["also"],
        laughter=re.compile(str(raw.get("laughter") or r"(?!)")),
        fillers=frozenset(squeeze(w) for entry in raw.get("fillers") or [] for w in _WORD.findall(entry)),
        not_joking=frozenset(squeeze(str(w)) for w in raw.get("not_joking") or []),
        earnest=tables["earnest"], not_now=tables["not_now"], now=tables["now"],
        cue_types=dict(raw.get("cue_types") or {}),
        leading_cues=frozenset(raw.get("leading_cues") or ()),
    )


def scan(text: str) -> Signals:
    """The signals of a raw message (tests, tools)."""
    return load().scan(normalise(text))
