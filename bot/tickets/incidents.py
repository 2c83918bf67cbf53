"""Many reports, one incident: which open incident a report belongs to, and what an incident is
made of its reports (type, agencies, priority, the best place, the region, the deadline)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.models import Incident, Ticket, TicketEvent, utcnow
from bot.tickets.priority import Priorities
from bot.tickets.regions import Regions
from bot.tickets.routing import DESK, UNKNOWN_TYPE

CLOSED_STATUSES = frozenset({"resolved", "cancelled"})
# How sure a place is, best first: a GPS pin, a geocoded address, a region's centroid, words.
SOURCE_RANK = {"gps": 0, "geocoder": 1, "gazetteer": 2, "text": 3}
# Words that say nothing about which place (lead-ins, relations, kinds of place alone).
_NOT_A_NAME = frozenset(
    "di ke dekat depan belakang samping sebelah seberang jalan jl gang gg desa kampung rt rw no nomor "
    "kel kelurahan kec kecamatan kab kabupaten kota the at in near on".split()
)
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Matching:
    """When two reports are one incident: same type, within `radius_m` (two GPS or street-level
    points) or naming the same place, and within `window` of the incident's last report."""

    radius_m: float = 500.0
    window: timedelta = timedelta(minutes=30)


def place_key(location: dict[str, Any] | None, words: str | None) -> str | None:
    """What names the place when there is no point: the village, else the place words' names."""
    village = ((location or {}).get("admin") or {}).get("village")
    if village:
        return "village:" + " ".join(_WORD.findall(str(village).lower()))
    names = [w for w in _WORD.findall((words or "").lower()) if w not in _NOT_A_NAME and not w.isdigit()]
    return "words:" + " ".join(names) if len(names) >= 2 else None


def same_place(a: str | None, b: str | None) -> bool:
    """Two place keys name the same place: equal, or one's names all within the other's."""
    if not a or not b or a.split(":", 1)[0] != b.split(":", 1)[0]:
        return False
    first, second = set(a.split(":", 1)[1].split()), set(b.split(":", 1)[1].split())
    return first <= second or second <= first


def point(location: dict[str, Any] | None) -> tuple[float, float] | None:
    """The location's point when it stands for a point (a pin, an address), not a region centroid."""
    if not location or location.get("precision") != "point":
        return None
    lat, lon = location.get("lat"), location.get("lon")
    return (float(lat), float(lon)) if lat is not None and lon is not None else None


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    dphi, dlam = phi2 - phi1, math.radians(b[1] - a[1])
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h)))


def can_match(ticket: Ticket) -> bool:
    """Whether the ticket can be another report's emergency: its type is known, and its place."""
    return ticket.emergency_type != UNKNOWN_TYPE and (
        point(ticket.location) is not None or place_key(ticket.location, ticket.location_text) is not None)


def find_match(session: Session, ticket: Ticket, rules: Matching,
               now: datetime | None = None) -> Incident | None:
    """The open incident this ticket reports too, if any (its own incident, and those an operator
    split it out of, excluded)."""
    if not can_match(ticket):
        return None
    mine, key = point(ticket.location), place_key(ticket.location, ticket.location_text)
    since = (now or utcnow()) - rules.window
    # What matching needs of each candidate, not whole rows: in a disaster there are many.
    candidates = session.execute(
        select(Incident.id, Incident.lat, Incident.lon, Incident.location["precision"].as_string(),
               Incident.place_key)
        .where(Incident.emergency_type == ticket.emergency_type,
               Incident.status.not_in(CLOSED_STATUSES), Incident.merged_into_id.is_(None),
               Incident.updated_at >= since)
        .where(Incident.id != (ticket.incident_id or 0))
        # An operator split this report out of an incident: never back into it on its own.
        .where(Incident.id.not_in(select(TicketEvent.incident_id).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "split",
            TicketEvent.incident_id.is_not(None))))
        .order_by(Incident.updated_at.desc()).limit(50)
    ).all()
    for ident, lat, lon, precision, their_key in candidates:
        theirs = point({"precision": precision, "lat": lat, "lon": lon})
        near = mine is not None and theirs is not None and distance_m(mine, theirs) <= rules.radius_m
        if near or (key and same_place(key, their_key)):
            return session.get(Incident, ident)
    return None


def sync(incident: Incident, priorities: Priorities, regions: Regions) -> list[str]:
    """Make the incident what its open reports say; returns the agencies it no longer concerns."""
    tickets = [t for t in incident.tickets if t.status not in CLOSED_STATUSES] or list(incident.tickets)
    before = list(incident.agencies or [])
    primary = tickets[0]
    incident.emergency_type = primary.emergency_type
    others = [k for t in tickets for k in (t.emergency_type, *(t.other_types or []))]
    skip = (primary.emergency_type, UNKNOWN_TYPE)
    incident.other_types = [k for k in dict.fromkeys(others) if k not in skip]
    agencies = list(dict.fromkeys(a for t in tickets for a in (t.agencies or [])))
    incident.agencies = [a for a in agencies if a != DESK] or agencies
    incident.cues = sorted({c for t in tickets for c in (t.cues or [])})
    incident.priority = priorities.higher(*(t.priority for t in tickets))
    best = min((t for t in tickets if t.location), key=_place_rank, default=None)
    if best is not None:
        incident.location = dict(best.location or {}) | {"words": best.location_text}
        located = point(best.location)
        incident.lat, incident.lon = located if located else (None, None)
        incident.place_key = place_key(best.location, best.location_text)
    elif primary.location_text:
        incident.location = {"words": primary.location_text, "source": "text"}
        incident.place_key = place_key(None, primary.location_text)
    incident.region = regions.centre_for(incident.location).code
    for ticket in incident.tickets:  # the centre whose operators see the reporters
        ticket.conversation.region = incident.region
    created = incident.created_at or utcnow()
    incident.deadline_at = created + priorities.deadline(incident.priority)
    incident.updated_at = utcnow()
    return [a for a in before if a not in incident.agencies]


def _place_rank(ticket: Ticket) -> tuple[int, int]:
    location = ticket.location or {}
    fine = 0 if location.get("precision") == "point" else 1
    return SOURCE_RANK.get(str(location.get("source")), 4), fine
