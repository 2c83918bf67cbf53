"""Resolve a place: a GPS pin, else a Nominatim server when one is set, else the gazetteer."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from geopy.adapters import RequestsAdapter
from geopy.exc import GeocoderQuotaExceeded, GeocoderTimedOut, GeocoderUnavailable, GeopyError
from geopy.geocoders import Nominatim

from nlu.gazetteer import Gazetteer
from nlu.types import AdminArea, Location

log = logging.getLogger(__name__)
USER_AGENT = "sigap112"
Precision = Literal["point", "village", "district", "regency", "province", "none"]

# A server that timed out or is down is not asked again for this long: every turn that names
# a place would otherwise wait the whole timeout for it, and turns queue behind each other.
PAUSE_SECONDS = 60.0
_OUTAGES = (GeocoderTimedOut, GeocoderUnavailable, GeocoderQuotaExceeded)
_paused_until: dict[str, float] = {}
_pause_lock = threading.Lock()

# Nominatim's names for Indonesian areas (addresstype, or type for class=place). Note that
# address "region" is an island group ("Jawa"), not a province.
_AREA_PRECISION: dict[str, Precision] = {
    "state": "province", "province": "province",
    "county": "regency", "regency": "regency",
    "municipality": "district", "city_district": "district", "district": "district",
    "subdistrict": "district", "suburb": "district",
    "village": "village", "town": "village", "hamlet": "village", "quarter": "village",
    "neighbourhood": "village", "isolated_dwelling": "village",
}
# Nominatim's generic place_rank scale, for results whose type says nothing.
_RANKS: tuple[tuple[int, Precision], ...] = (
    (9, "province"), (12, "regency"), (16, "district"), (25, "village"), (30, "point"),
)


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> Nominatim:
    """One client per server, so its HTTP session and connections are reused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"geocoder URL must be http(s)://host[:port][/path], got {url!r}")
    return Nominatim(
        domain=parts.netloc + parts.path.rstrip("/"),
        scheme=parts.scheme,
        user_agent=USER_AGENT,
        timeout=timeout,
        adapter_factory=_adapter,
    )


def _adapter(proxies: Any, ssl_context: Any) -> RequestsAdapter:
    # geopy's default retries twice: a 2 s timeout would block for 6 s before the gazetteer
    # answers, and urllib3 logs each retry with the URL, which holds the reporter's words.
    return RequestsAdapter(proxies=proxies, ssl_context=ssl_context, max_retries=0)


def geocode(text: str, url: str, timeout: float = 2.0) -> Location | None:
    """Geocode a place span in Indonesia with a Nominatim server; None if it cannot."""
    if not text.strip() or _paused(url):
        return None
    try:
        found = _client(url, timeout).geocode(
            text, exactly_one=True, addressdetails=True, country_codes="id", timeout=timeout
        )
    except GeopyError as exc:
        # The query is the reporter's words (maybe a home address): never log it.
        log.warning("geocoder failed (%s); falling back to the gazetteer", type(exc).__name__)
        if isinstance(exc, _OUTAGES):
            with _pause_lock:
                _paused_until[url] = time.monotonic() + PAUSE_SECONDS
            log.warning("geocoder paused for %.0f s; the gazetteer answers alone", PAUSE_SECONDS)
        return None
    if found is None:
        return None
    raw: dict[str, Any] = found.raw
    address: dict[str, str] = raw.get("address") or {}
    lat, lon = float(found.latitude), float(found.longitude)
    # Nominatim has no region codes: the nearest kecamatan's code says which centre it is.
    code = Gazetteer.load().nearest(lat, lon).admin.code
    return Location(
        text=text,
        lat=lat,
        lon=lon,
        source="geocoder",
        admin=replace(admin_area(address), code=code),
        precision=precision(raw),
    )


def _paused(url: str) -> bool:
    with _pause_lock:
        return _paused_until.get(url, 0.0) > time.monotonic()


def admin_area(address: dict[str, str]) -> AdminArea:
    """Nominatim address keys for Indonesia read by priority (see DESIGN.md)."""
    # A kota without a "county" comes as "city"; with a county, "city" is the desa/kelurahan.
    regency_key = "county" if "county" in address else "city"
    village = next(
        (address[k] for k in ("village", "town", "city", "hamlet") if k in address and k != regency_key),
        None,
    )
    return AdminArea(
        province=address.get("state") or address.get("province"),
        regency=address.get(regency_key),
        district=address.get("municipality") or address.get("city_district") or address.get("suburb"),
        village=village,
    )


def precision(raw: dict[str, Any]) -> Precision:
    """How fine a Nominatim result is: a house, road or amenity is a point, an area its level."""
    category = raw.get("class") or raw.get("category")  # "class" in format=json, v2 "category"
    if category not in ("boundary", "place"):
        return "point"
    kind = raw.get("addresstype") or raw.get("type") or ""
    if kind == "city":
        return "village" if "county" in (raw.get("address") or {}) else "regency"
    if kind in _AREA_PRECISION:
        return _AREA_PRECISION[kind]
    rank = int(raw.get("place_rank") or 0)
    return next((level for limit, level in _RANKS if 0 < rank <= limit), "none")


def resolve_location(
    text: str | None,
    lat: float | None = None,
    lon: float | None = None,
    geocoder_url: str | None = None,
    *,
    timeout: float = 2.0,
) -> Location | None:
    """A GPS pin, else the geocoder (if set and it answers), else the gazetteer, else words only."""
    if lat is not None and lon is not None:
        return replace(Gazetteer.load().nearest(lat, lon), text=text or None)
    place = (text or "").strip()
    if not place:
        return None
    if geocoder_url:
        found = geocode(place, geocoder_url, timeout)
        if found is not None:
            return found
    # Words we cannot place still go to the operator, with no invented point.
    return Gazetteer.load().match(place) or Location(text=place, source="text")
