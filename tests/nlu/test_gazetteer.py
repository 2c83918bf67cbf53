"""The bundled regions table and the gazetteer that reads place spans and GPS pins with it."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from nlu.gazetteer import REGIONS_PATH, Gazetteer
from nlu.types import AdminArea


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with REGIONS_PATH.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load()


def test_regions_table_has_every_province_regency_and_kecamatan(rows: list[dict[str, str]]) -> None:
    counts = Counter(row["level"] for row in rows)
    assert counts["province"] == 38
    assert 505 <= counts["regency"] <= 525
    assert 7200 <= counts["district"] <= 7400
    assert set(counts) == {"province", "regency", "district"}


def test_every_region_has_a_point_inside_indonesia(rows: list[dict[str, str]]) -> None:
    for row in rows:
        lat, lon = float(row["lat"]), float(row["lon"])
        assert -11.5 <= lat <= 6.5 and 94.5 <= lon <= 141.5, row
        assert len(row["lat"].split(".")[1]) == 4, row


def test_every_region_hangs_under_its_parent(rows: list[dict[str, str]]) -> None:
    by_code = {row["code"]: row for row in rows}
    for row in rows:
        if row["level"] == "province":
            assert row["parent_code"] == "" and row["province"] == row["name"]
            continue
        parent = by_code[row["parent_code"]]
        assert row["code"].startswith(parent["code"] + ".")
        assert row["province"] == parent["province"]
        if row["level"] == "district":
            assert row["regency"] == parent["name"]


def test_wakatobi_lies_in_the_banda_sea_not_in_africa(rows: list[dict[str, str]]) -> None:
    wakatobi = next(r for r in rows if r["name"] == "Kabupaten Wakatobi")
    assert 123.0 < float(wakatobi["lon"]) < 124.5
    assert -6.5 < float(wakatobi["lat"]) < -5.0


def test_names_are_readable(rows: list[dict[str, str]]) -> None:
    names = {(row["level"], row["name"]) for row in rows}
    assert ("regency", "Kabupaten Kendal") in names
    assert ("regency", "Kota Semarang") in names
    assert ("district", "Weleri") in names
    assert ("province", "Jawa Tengah") in names


@pytest.mark.parametrize(
    ("span", "precision", "district", "regency"),
    [
        ("dkt pasar weleri", "district", "Weleri", "Kabupaten Kendal"),
        ("desa margolinduk kec bonang demak", "district", "Bonang", "Kabupaten Demak"),
        ("desa jragung kec karangawen", "district", "Karangawen", "Kabupaten Demak"),
        ("jl pemuda no 10 kendal", "regency", None, "Kabupaten Kendal"),
        ("Jl. Soekarno-Hatta No. 12 Kendal", "regency", None, "Kabupaten Kendal"),
        ("JALAN PANTURA KM 21 DEMAK", "regency", None, "Kabupaten Demak"),
        ("kab. purworejo", "regency", None, "Kabupaten Purworejo"),
        ("kota smg", "regency", None, "Kota Semarang"),
        ("kab semarang", "regency", None, "Kabupaten Semarang"),
        ("kota padang", "regency", None, "Kota Padang"),
        ("kediri kota", "regency", None, "Kota Kediri"),
        ("semarang tengah", "district", "Semarang Tengah", "Kota Semarang"),
        ("kec. ngaliyan kota semarang", "district", "Ngaliyan", "Kota Semarang"),
        ("banyumanik smg", "district", "Banyumanik", "Kota Semarang"),
        ("jogja", "regency", None, "Kota Yogyakarta"),
        ("solo", "regency", None, "Kota Surakarta"),
        ("sby", "regency", None, "Kota Surabaya"),
        ("jaksel", "regency", None, "Kota Administrasi Jakarta Selatan"),
        ("kuta beach parking", "district", "Kuta", "Kabupaten Badung"),
        ("dpn indomaret weleri, kendal, jateng", "district", "Weleri", "Kabupaten Kendal"),
    ],
)
def test_place_spans_resolve_to_the_finest_sure_region(
    gazetteer: Gazetteer, span: str, precision: str, district: str | None, regency: str
) -> None:
    location = gazetteer.match(span)
    assert location is not None, span
    assert (location.precision, location.admin.district, location.admin.regency) == (
        precision,
        district,
        regency,
    )
    assert location.source == "gazetteer" and location.text == span
    assert location.lat is not None and location.lon is not None


def test_a_district_point_is_its_centroid(gazetteer: Gazetteer) -> None:
    location = gazetteer.match("dkt pasar weleri")
    assert location is not None
    assert (location.lat, location.lon) == pytest.approx((-6.98, 110.07), abs=0.05)
    assert location.admin == AdminArea("Jawa Tengah", "Kabupaten Kendal", "Weleri", None, "33.24.12")


def test_province_names_and_aliases_resolve_to_the_province(gazetteer: Gazetteer) -> None:
    for span in ("prov bengkulu", "jakarta", "jateng"):
        location = gazetteer.match(span)
        assert location is not None and location.precision == "province", span
        assert location.admin.regency is None


@pytest.mark.parametrize(
    ("span", "regency"),
    [
        ("cisarua bogor", "Kabupaten Bogor"),
        ("kec cisarua sumedang", "Kabupaten Sumedang"),
        ("sukajadi bandung", "Kota Bandung"),
        ("sukajadi pekanbaru", "Kota Pekanbaru"),
        ("wonosari gunungkidul", "Kabupaten Gunungkidul"),
    ],
)
def test_a_duplicate_kecamatan_name_is_told_apart_by_its_regency(
    gazetteer: Gazetteer, span: str, regency: str
) -> None:
    location = gazetteer.match(span)
    assert location is not None and location.precision == "district"
    assert location.admin.regency == regency


def test_a_duplicate_kecamatan_name_alone_is_not_guessed(gazetteer: Gazetteer) -> None:
    assert gazetteer.match("desa cisarua") is None  # Bogor, Bandung Barat or Sumedang
    assert gazetteer.match("wonosari") is None
    assert gazetteer.match("kec karanganyar") is None


def test_street_name_does_not_become_a_far_district(gazetteer: Gazetteer) -> None:
    # Kecamatan Merdeka exists (Kabupaten Karo), and so does a Jl. Merdeka in most towns.
    assert gazetteer.match("merdeka karo") is not None
    assert gazetteer.match("jl merdeka no 5") is None
    assert gazetteer.match("jl sudirman") is None
    assert gazetteer.match("depan alfamart jl ahmad yani") is None
    near_kendal = gazetteer.match("jl merdeka no 5 kendal")
    assert near_kendal is not None
    assert (near_kendal.precision, near_kendal.admin.regency) == ("regency", "Kabupaten Kendal")


def test_street_named_after_a_district_of_the_named_regency_counts(gazetteer: Gazetteer) -> None:
    location = gazetteer.match("jl raya weleri kendal")
    assert location is not None and location.admin.district == "Weleri"


def test_village_and_street_words_without_a_region_give_nothing(gazetteer: Gazetteer) -> None:
    for span in ("kampung melayu", "perum bukit permai", "gg melati 3 pekunden", "depan rumah",
                 "rumah ibu", "jl. pemuda", "dsa tambakrejo rt2", "lapangan merdeka", "batu"):
        assert gazetteer.match(span) is None, span


def test_typos_in_region_names_are_forgiven(gazetteer: Gazetteer) -> None:
    purworejo = gazetteer.match("purwerejo")
    assert purworejo is not None and purworejo.admin.regency == "Kabupaten Purworejo"
    weleri = gazetteer.match("weleri kendall")
    assert weleri is not None and weleri.admin.district == "Weleri"


def test_two_regencies_in_one_span_give_their_province(gazetteer: Gazetteer) -> None:
    location = gazetteer.match("jalan raya bukittinggi payakumbuh")
    assert location is not None
    assert (location.precision, location.admin.province) == ("province", "Sumatera Barat")


@pytest.mark.parametrize(
    ("lat", "lon", "district", "regency"),
    [
        (-6.9838, 110.4094, "Semarang Tengah", "Kota Semarang"),  # Simpang Lima
        (-6.1754, 106.8272, "Gambir", "Kota Administrasi Jakarta Pusat"),  # Monas
        (-8.7180, 115.1686, "Kuta", "Kabupaten Badung"),
    ],
)
def test_a_gps_pin_gets_the_area_of_the_nearest_kecamatan(
    gazetteer: Gazetteer, lat: float, lon: float, district: str, regency: str
) -> None:
    location = gazetteer.nearest(lat, lon)
    assert (location.admin.district, location.admin.regency) == (district, regency)
    assert (location.lat, location.lon, location.source, location.precision) == (lat, lon, "gps", "point")


def test_a_pin_outside_indonesia_gets_no_area(gazetteer: Gazetteer) -> None:
    location = gazetteer.nearest(0.0, 0.0)
    assert location.admin == AdminArea() and (location.lat, location.lon) == (0.0, 0.0)


def test_the_default_gazetteer_is_loaded_once(gazetteer: Gazetteer) -> None:
    assert Gazetteer.load() is gazetteer


def test_a_gazetteer_loads_any_regions_file(tmp_path: Path) -> None:
    path = tmp_path / "regions.csv"
    path.write_text(
        "level,code,name,parent_code,province,regency,lat,lon\n"
        "province,33,Jawa Tengah,,Jawa Tengah,,-7.2,110.1\n"
        "regency,33.24,Kabupaten Kendal,33,Jawa Tengah,Kabupaten Kendal,-7.0,110.2\n"
        "district,33.24.12,Weleri,33.24,Jawa Tengah,Kabupaten Kendal,-6.98,110.07\n",
        encoding="utf-8",
    )
    gazetteer = Gazetteer.load(path)
    assert len(gazetteer.regions) == 3
    location = gazetteer.match("weleri")
    assert location is not None and location.admin.district == "Weleri"
    assert gazetteer.nearest(-6.9, 110.0).admin.district == "Weleri"
