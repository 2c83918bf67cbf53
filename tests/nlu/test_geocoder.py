"""resolve_location and geocode against a local server that speaks Nominatim's wire format."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from nlu import geocoder
from nlu.geocoder import geocode, resolve_location
from nlu.types import AdminArea

# What Nominatim answers for /search?format=json&addressdetails=1 (geopy asks for format=json,
# where v2's "category" is called "class").
ROAD = {
    "place_id": 184466, "licence": "Data (c) OpenStreetMap contributors, ODbL 1.0.",
    "osm_type": "way", "osm_id": 25612345, "lat": "-6.9785", "lon": "110.4159",
    "class": "highway", "type": "primary", "place_rank": 26, "importance": 0.21,
    "addresstype": "road", "name": "Jalan Pemuda",
    "display_name": "Jalan Pemuda, Sekayu, Semarang Tengah, Semarang, Jawa Tengah, Indonesia",
    "address": {
        "road": "Jalan Pemuda", "village": "Sekayu", "city_district": "Semarang Tengah",
        "city": "Semarang", "state": "Jawa Tengah", "ISO3166-2-lvl4": "ID-JT", "region": "Jawa",
        "postcode": "50132", "country": "Indonesia", "country_code": "id",
    },
    "boundingbox": ["-6.9800", "-6.9770", "110.4140", "110.4180"],
}
KECAMATAN = {
    "place_id": 3021, "osm_type": "relation", "osm_id": 9887, "lat": "-6.9800", "lon": "110.0700",
    "class": "boundary", "type": "administrative", "place_rank": 16, "addresstype": "municipality",
    "name": "Weleri", "display_name": "Weleri, Kendal, Jawa Tengah, Indonesia",
    "address": {"municipality": "Weleri", "county": "Kendal", "state": "Jawa Tengah",
                "region": "Jawa", "country": "Indonesia", "country_code": "id"},
}
REVERSE = dict(ROAD, lat="-6.9838", lon="110.4094")


@dataclass
class Nominatim:
    """A local Nominatim: what it answers (`mode`) and what it was asked (`requests`)."""

    url: str
    mode: str = "road"
    requests: list[tuple[str, dict[str, list[str]], str]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(state: Nominatim) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            state.requests.append((parts.path, parse_qs(parts.query), self.headers["User-Agent"]))
            if state.mode == "slow":
                state.release.wait(5)  # longer than the client's timeout; bounded
            if state.mode == "error":
                return self._send(500, {"error": "internal"})
            if parts.path == "/reverse":
                return self._send(200, REVERSE)
            answers = {"road": [ROAD], "kecamatan": [KECAMATAN]}
            self._send(200, answers.get(state.mode, []))

        def _send(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test): nobody to answer

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return  # keep test output clean

    return Handler


@pytest.fixture
def nominatim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Nominatim]:
    monkeypatch.setattr(geocoder, "_paused_until", {})  # each test starts with the server trusted
    state = Nominatim(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_geocoder_hit_gives_its_point_and_address(nominatim: Nominatim) -> None:
    location = geocode("jl pemuda semarang", nominatim.url)
    assert location is not None
    assert (location.lat, location.lon) == (-6.9785, 110.4159)
    assert (location.source, location.precision, location.text) == ("geocoder", "point", "jl pemuda semarang")
    assert location.admin == AdminArea(
        province="Jawa Tengah", regency="Semarang", district="Semarang Tengah", village="Sekayu",
        code="33.74.01",
    )


def test_geopy_asks_nominatim_for_indonesia_with_address_details(nominatim: Nominatim) -> None:
    geocode("jl pemuda semarang", nominatim.url)
    [(path, params, agent)] = nominatim.requests
    assert path == "/search"
    assert params["q"] == ["jl pemuda semarang"]
    assert params["countrycodes"] == ["id"]
    assert params["addressdetails"] == ["1"]
    assert params["format"] == ["json"]
    assert params["limit"] == ["1"]
    assert agent == "sigap112"


def test_an_area_result_has_the_precision_of_its_level(nominatim: Nominatim) -> None:
    nominatim.mode = "kecamatan"
    location = resolve_location("kec weleri", geocoder_url=nominatim.url)
    assert location is not None and location.source == "geocoder"
    assert location.precision == "district"
    assert location.admin == AdminArea(
        province="Jawa Tengah", regency="Kendal", district="Weleri", code="33.24.12"
    )


def test_an_empty_geocoder_answer_falls_back_to_the_gazetteer(nominatim: Nominatim) -> None:
    nominatim.mode = "empty"
    location = resolve_location("dkt pasar weleri", geocoder_url=nominatim.url)
    assert len(nominatim.requests) == 1
    assert location is not None
    assert location.source == "gazetteer"
    assert (location.precision, location.admin.district) == ("district", "Weleri")


def test_a_geocoder_error_falls_back_to_the_gazetteer_and_logs_no_query(
    nominatim: Nominatim, caplog: pytest.LogCaptureFixture
) -> None:
    nominatim.mode = "error"
    with caplog.at_level(logging.WARNING, logger="nlu.geocoder"):
        location = resolve_location("rumah pak budi dkt pasar weleri", geocoder_url=nominatim.url)
    assert location is not None and location.source == "gazetteer"
    assert "geocoder failed" in caplog.text
    assert "budi" not in caplog.text


def test_a_slow_geocoder_times_out_once_then_rests_while_the_gazetteer_answers(
    nominatim: Nominatim, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    nominatim.mode = "slow"
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        assert geocode("rumah pak budi purworejo", nominatim.url, timeout=0.3) is None
        paused_at = time.monotonic()
        location = resolve_location("kab. purworejo", geocoder_url=nominatim.url, timeout=0.3)
    assert time.monotonic() - paused_at < 0.25  # not asked again: no second timeout to wait
    assert time.monotonic() - started < 2.0
    assert len(nominatim.requests) == 1  # no retries behind the timeout, then a pause
    assert location is not None
    assert (location.source, location.admin.regency) == ("gazetteer", "Kabupaten Purworejo")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and not any("budi" in w or "purworejo" in w for w in warnings)
    # Once the pause is over the server is asked again.
    nominatim.mode = "road"
    monkeypatch.setattr(geocoder, "_paused_until", {nominatim.url: time.monotonic() - 1})
    assert geocode("jl pemuda semarang", nominatim.url) is not None


def test_an_unreachable_geocoder_falls_back_to_the_gazetteer() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    location = resolve_location("kota smg", geocoder_url=f"http://127.0.0.1:{port}")
    assert location is not None
    assert (location.source, location.admin.regency) == ("gazetteer", "Kota Semarang")


def test_a_gps_pin_wins_over_text_and_asks_no_server(nominatim: Nominatim) -> None:
    location = resolve_location("jl pemuda kendal", -6.9838, 110.4094, geocoder_url=nominatim.url)
    assert nominatim.requests == []
    assert location is not None
    assert (location.source, location.precision) == ("gps", "point")
    assert (location.lat, location.lon) == (-6.9838, 110.4094)
    assert (location.admin.district, location.admin.regency) == ("Semarang Tengah", "Kota Semarang")
    assert location.text == "jl pemuda kendal"


def test_without_a_geocoder_the_gazetteer_answers() -> None:
    location = resolve_location("desa margolinduk kec bonang demak")
    assert location is not None
    assert (location.source, location.admin.district) == ("gazetteer", "Bonang")


def test_words_nobody_can_place_are_kept_without_a_point() -> None:
    location = resolve_location("depan rumah pak rt")
    assert location is not None
    assert (location.source, location.precision, location.lat, location.lon) == ("text", "none", None, None)
    assert location.text == "depan rumah pak rt"


def test_no_words_and_no_pin_is_no_location() -> None:
    assert resolve_location(None) is None
    assert resolve_location("   ") is None
