"""Offline place lookup: Indonesian provinces, regencies and kecamatan with their centroids.

A span such as "desa margolinduk kec bonang demak" is read as tokens with roles (after "jl" a
street, after "desa" a village, after "kec" a district), looked up exactly and, where nothing
matched, fuzzily. The rules lean towards no answer: the centroid of a wrong kecamatan sends help
to the wrong place, while no answer makes the bot ask.
"""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process

from nlu.types import AdminArea, Location

REGIONS_PATH = Path(__file__).resolve().parent / "data" / "regions.csv"
Level = Literal["province", "regency", "district"]

# Indonesia's bounding box (lat_min, lat_max, lon_min, lon_max).
BOUNDS = (-11.5, 6.5, 94.5, 141.5)
FUZZY_CUTOFF = 85.0  # a district confirmed by its regency or province may be this far off
REGION_FUZZY_MIN = 88.0  # regencies and provinces: few names, so a typo is safe to fix
FUZZY_MIN_CHARS = 6  # "kamar" is not Kampar, "kabur" not Kaur, "belum" not Belu

# Shorthand reporters type for places and markers (after lower-casing, punctuation dropped).
ABBREVIATIONS = {
    "kab": "kabupaten", "kabupaten": "kabupaten", "kodya": "kota", "kotamadya": "kota",
    "kec": "kecamatan", "kcm": "kecamatan", "kel": "kelurahan", "ds": "desa", "dsa": "desa",
    "dsn": "dusun", "kp": "kampung", "kmp": "kampung", "prov": "provinsi", "prop": "provinsi",
    "propinsi": "provinsi", "jl": "jalan", "jln": "jalan", "gg": "gang", "perum": "perumahan",
    "komp": "komplek", "kompleks": "komplek", "lr": "lorong",
    "smg": "semarang", "jkt": "jakarta", "jaksel": "jakarta selatan", "jakbar": "jakarta barat",
    "jaktim": "jakarta timur", "jakut": "jakarta utara", "jakpus": "jakarta pusat",
    "jogja": "yogyakarta", "yogya": "yogyakarta", "jogjakarta": "yogyakarta", "jogya": "yogyakarta",
    "sby": "surabaya", "bdg": "bandung", "mlg": "malang", "solo": "surakarta", "mks": "makassar",
    "plg": "palembang", "pku": "pekanbaru", "dps": "denpasar", "mdn": "medan", "bks": "bekasi",
    "bgr": "bogor", "dpk": "depok", "tng": "tangerang", "tangsel": "tangerang selatan",
    "bpn": "balikpapan", "smd": "samarinda",
}
# Words that open a name of some kind, and the role they give the words after them.
MARKERS = {
    "jalan": "street", "gang": "street", "lorong": "street", "perumahan": "street",
    "komplek": "street", "desa": "village", "kelurahan": "village", "dusun": "village",
    "kampung": "village", "nagari": "village", "gampong": "village", "dukuh": "village",
    "lingkungan": "village", "kecamatan": "district", "distrik": "district",
    "kabupaten": "kabupaten", "kota": "kota", "provinsi": "provinsi",
}
# Words that end a name: house numbers, RT/RW, prepositions ("dekat", "near").
BREAKS = frozenset(
    ", no nomor nmr rt rw km blok di ke dari dekat dkt deket depan dpn belakang blkg samping"
    " sebelah sblh seberang sebrang arah menuju antara perbatasan dan atau sekitar near the at"
    " in on of to".split()
)
# Kecamatan (and two regencies) named with everyday words ("ibu", "merdeka", "batu", "tugu"):
# alone, with no marker and nothing to confirm them, they are words, not places.
GENERIC = frozenset(
    "ayah ibu kamu kami bola bukit candi damai dukun gajah jaya kelapa luas makmur merdeka"
    " mulia panjang raya sakti salam selesai setia subur sumber sumur taman tambak tebing teriak"
    " tetap tugu ujung barat batu benteng bintang butuh delima jambu kapas kasihan kebo kembang"
    " kilo lapang licin lumbung lumut muara negara payung perak petang petir pucuk rakit sarang"
    " sedan semen sela sumbang susut tarik tempe tulis tutur permata mutiara cempaka anggrek"
    " pandan kemuning cendana meranti beringin rambutan manggis salak pinang belimbing kedondong"
    " enggal tulung bina pacar gading kuala tanjung simpang bandar puncak metro pantai pasar".split()
)
PROVINCE_ALIASES = {
    "11": ["nad"], "12": ["sumut"], "13": ["sumbar"], "16": ["sumsel"],
    "19": ["babel", "bangka belitung"], "21": ["kepri"],
    "31": ["jakarta", "dki", "dki jakarta", "daerah khusus jakarta"], "32": ["jabar"],
    "33": ["jateng"], "34": ["diy", "yogyakarta"], "35": ["jatim"],
    "52": ["ntb"], "53": ["ntt"], "61": ["kalbar"], "62": ["kalteng"], "63": ["kalsel"],
    "64": ["kaltim"], "65": ["kaltara"], "71": ["sulut"], "72": ["sulteng"], "73": ["sulsel"],
    "74": ["sultra"], "76": ["sulbar"], "82": ["malut"], "96": ["pbd"],
}
# How much a role says that its words name a kecamatan.
ROLE_RANK = {"district": 3, "plain": 2, "kabupaten": 2, "kota": 2, "provinsi": 2, "village": 1,
             "street_tail": 1, "street": 0}

_WORD = re.compile(r"[a-z]+|[0-9]+|,")
_REGENCY_KIND = re.compile(r"^(kabupaten|kota)( administrasi)? ")
_LEVEL_MARKER = {"district": {"kecamatan"}, "regency": {"kabupaten", "kota"}, "province": {"provinsi"}}


@dataclass(frozen=True)
class Region:
    """One row of regions.csv."""

    level: Level
    code: str
    name: str
    province: str
    regency: str | None
    lat: float
    lon: float

    @property
    def admin(self) -> AdminArea:
        """The region's administrative area names."""
        district = self.name if self.level == "district" else None
        return AdminArea(province=self.province, regency=self.regency, district=district, code=self.code)

    def within(self, other: Region) -> bool:
        """Whether this region is `other` or lies inside it."""
        return self.code == other.code or self.code.startswith(other.code + ".")


@dataclass(frozen=True)
class Hit:
    """A region whose name matched tokens [start, end) of a span."""

    region: Region
    start: int
    end: int
    score: float
    words: str
    role: str  # the role of the first token (see roles())
    marked: bool  # right after its own level's marker: "kec bonang", "kota semarang"


def read_regions(path: Path) -> list[Region]:
    """The rows of a regions CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            Region(row["level"], row["code"], row["name"], row["province"],  # type: ignore[arg-type]
                   row["regency"] or None, float(row["lat"]), float(row["lon"]))
            for row in csv.DictReader(handle)
        ]


def normalise(text: str) -> list[str]:
    """Lower-case tokens with abbreviations expanded; commas kept as breaks."""
    tokens: list[str] = []
    for word in _WORD.findall(text.lower()):
        tokens.extend(ABBREVIATIONS.get(word, word).split())
    return tokens


def roles(tokens: list[str]) -> list[str]:
    """Each token's role: the kind of name the reporter is giving there."""
    out: list[str] = []
    role = "plain"
    for token in tokens:
        if token in BREAKS or token.isdigit():
            role = "plain"
            out.append("break")
        elif token in MARKERS:
            role = MARKERS[token]
            out.append(role)
        else:
            out.append(role)
            # Only the word right after "jl" is surely the street's own: "jl raya weleri
            # kendal" is a road through Weleri, in Kendal.
            role = "street_tail" if role == "street" else role
    return out


class Gazetteer:
    """Region names and centroids, indexed for span matching and nearest-centroid lookup."""

    def __init__(self, regions: list[Region]) -> None:
        self.regions = regions
        self.by_code = {r.code: r for r in regions}
        self.index: dict[str, list[Region]] = defaultdict(list)
        for region in regions:
            for key in _keys(region):
                if region not in self.index[key]:
                    self.index[key].append(region)
        self.keys = list(self.index)
        self.districts = [r for r in regions if r.level == "district"]
        self._lat = np.radians([r.lat for r in self.districts])
        self._lon = np.radians([r.lon for r in self.districts])

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """The gazetteer of a regions CSV (default: the bundled one, read once per process)."""
        return default_gazetteer() if path is None else cls(read_regions(path))

    def match(self, text: str) -> Location | None:
        """The finest region a place span names with confidence, or None."""
        region = choose(self.hits(text), self.by_code)
        if region is None:
            return None
        return Location(text=text, lat=region.lat, lon=region.lon, source="gazetteer",
                        admin=region.admin, precision=region.level)

    def nearest(self, lat: float, lon: float) -> Location:
        """A GPS pin with the admin area of the nearest kecamatan centroid.

        The nearest centroid is not always the kecamatan that contains the pin (kecamatan differ
        in size and shape): the area is *near* the pin, not proven to hold it. A pin outside
        Indonesia gets no area at all.
        """
        if not (BOUNDS[0] <= lat <= BOUNDS[1] and BOUNDS[2] <= lon <= BOUNDS[3]):
            return Location(text=None, lat=lat, lon=lon, source="gps", precision="point")
        phi, lam = np.radians(lat), np.radians(lon)
        # Equirectangular distance: near the equator exact enough to rank centroids.
        dx = (self._lon - lam) * np.cos(phi)
        dy = self._lat - phi
        region = self.districts[int(np.argmin(dx * dx + dy * dy))]
        return Location(text=None, lat=lat, lon=lon, source="gps", admin=region.admin,
                        precision="point")

    def hits(self, text: str) -> list[Hit]:
        """Every reading of the span's words as a region name, after pruning."""
        tokens = normalise(text)
        tags = roles(tokens)
        found: list[Hit] = []
        unmatched: list[tuple[int, int]] = []
        for start in range(len(tokens)):
            for end in range(start + 1, min(start + 4, len(tokens)) + 1):
                if tags[end - 1] == "break":
                    break
                words = tokens[start:end]
                if all(w in MARKERS for w in words):
                    continue  # "kota" alone is a marker, not Kecamatan Kota in Kediri
                regions = self.index.get(" ".join(words)) or self.index.get("".join(words), [])
                found += [_hit(r, start, end, 100.0, tokens, tags) for r in regions]
                if not regions and end - start <= 2:
                    unmatched.append((start, end))
        covered = {i for h in found for i in range(h.start, h.end)}
        queries = [
            (s, e) for s, e in unmatched
            if tags[s] != "street" and covered.isdisjoint(range(s, e))
            and not any(t in MARKERS for t in tokens[s:e]) and len("".join(tokens[s:e])) >= FUZZY_MIN_CHARS
        ]
        if queries:
            # One batched call: cdist scores all queries against all names in C.
            scores = process.cdist([" ".join(tokens[s:e]) for s, e in queries], self.keys,
                                   scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, dtype=np.uint8)
            for (start, end), row in zip(queries, scores, strict=True):
                best = int(row.max())
                for k in np.flatnonzero(row == best) if best else ():
                    found += [_hit(r, start, end, float(best), tokens, tags)
                              for r in self.index[self.keys[k]]]
        return prune(found, tokens)


@lru_cache(maxsize=1)
def default_gazetteer() -> Gazetteer:
    """The bundled gazetteer, loaded on first use."""
    return Gazetteer(read_regions(REGIONS_PATH))


def _keys(region: Region) -> list[str]:
    """The normalised names a region answers to."""
    name = " ".join(_WORD.findall(region.name.lower()))
    if region.level == "regency":
        name = _REGENCY_KIND.sub("", name)
    # "karang tengah" is also written "karangtengah"; but "ma u" (Ma'u) must not answer "mau".
    keys = [name, name.replace(" ", "")] if min(map(len, name.split())) >= 3 else [name]
    return keys + PROVINCE_ALIASES.get(region.code, []) if region.level == "province" else keys


def _hit(region: Region, start: int, end: int, score: float, tokens: list[str], tags: list[str]) -> Hit:
    before = tokens[start - 1] if start else ""
    marked = before in _LEVEL_MARKER[region.level]
    if region.level == "regency":
        marked = marked and region.name.lower().startswith(before)
    return Hit(region, start, end, score, " ".join(tokens[start:end]), tags[start], marked)


def prune(hits: list[Hit], tokens: list[str]) -> list[Hit]:
    """Drop readings a reporter cannot have meant, and shorter readings of the same words."""
    # "jl semarang" is a street found in many cities; weak fuzzy regencies are guesses.
    hits = [h for h in hits if h.region.level == "district"
            or h.role != "street" and h.score >= REGION_FUZZY_MIN]
    # "kota padang" is Kota Padang, not the kecamatan "Kota Padang" in Rejang Lebong.
    marked_at = {h.start for h in hits if h.marked}
    hits = [h for h in hits if not (tokens[h.start] in MARKERS and h.start + 1 in marked_at)]
    # A longer name wins over a name inside it: "semarang tengah" is a kecamatan.
    hits = [h for h in hits if not any(o.start <= h.start and h.end <= o.end
                                       and o.end - o.start > h.end - h.start for o in hits)]
    by_span: dict[tuple[int, int], list[Hit]] = defaultdict(list)
    for hit in hits:
        by_span[hit.start, hit.end].append(hit)
    kept: list[Hit] = []
    for same in by_span.values():
        if any(h.marked for h in same):
            kept += [h for h in same if h.marked]  # "kab semarang", "kec kendal", "prov bengkulu"
        elif any(h.region.level == "regency" for h in same):
            # Unmarked, the words mean the regency: "kendal" is Kabupaten Kendal, not its
            # kecamatan Kendal; "bengkulu" the city rather than the province.
            kept += [h for h in same if h.region.level == "regency"]
        else:
            kept += same
    return kept


def choose(hits: list[Hit], by_code: dict[str, Region]) -> Region | None:
    """The finest region the hits agree on, or None when they do not."""
    provinces = {h.region for h in _best(hits, "province")}
    province = provinces.pop() if len(provinces) == 1 else None
    districts = [h for h in hits if h.region.level == "district"]
    area = _area(_best(hits, "regency"), province, districts, by_code)
    if area is not None:
        candidates = [d for d in districts if d.region.within(area)]
    else:
        # Alone, a kecamatan must be spelt right: "tumbang" is not Tubang in Merauke.
        candidates = [d for d in districts if ROLE_RANK[d.role] >= 2 and d.score == 100.0
                      and (d.marked or d.words not in GENERIC)]
    if not candidates:
        return area
    top = max(_rank(d) for d in candidates)
    return _common({d.region for d in candidates if _rank(d) == top}, area, by_code)


def _best(hits: list[Hit], level: Level) -> list[Hit]:
    """The best-scoring hits of one level; a lone everyday word is not a regency name."""
    hits = [h for h in hits if h.region.level == level and (h.marked or h.words not in GENERIC)]
    top = max((h.score for h in hits), default=0.0)
    return [h for h in hits if h.score == top]


def _area(
    hits: list[Hit], province: Region | None, districts: list[Hit], by_code: dict[str, Region]
) -> Region | None:
    """The regency the hits name, else the province: where to look for the kecamatan."""
    options = {h.region for h in hits if province is None or h.region.within(province)}
    if len(options) > 1:
        # A kecamatan in the span decides between regencies: "ngaliyan semarang" is the Kota.
        options = {r for r in options if any(d.region.within(r) for d in districts)} or options
    if len(options) > 1 and len({_REGENCY_KIND.sub("", r.name.lower()) for r in options}) == 1:
        # Bare "semarang" names both Kota and Kabupaten Semarang; people mostly mean the city.
        options = {r for r in options if r.name.startswith("Kota ")}
    if options:  # several: "jalan raya bukittinggi payakumbuh" names two regencies, but one province
        return _common(options, province, by_code)
    return province


def _rank(hit: Hit) -> tuple[bool, int, float, int]:
    return hit.marked, ROLE_RANK[hit.role], hit.score, hit.end - hit.start


def _common(regions: set[Region], fallback: Region | None, by_code: dict[str, Region]) -> Region | None:
    """The one region, else the smallest area that holds them all (a regency or province)."""
    if len(regions) == 1:
        return regions.pop()
    sample = next(iter(regions))
    for code in (sample.code[:5], sample.code[:2]):
        if all(r.code.startswith(code) for r in regions):
            return by_code[code]
    return fallback
