"""The published ticket (schemas/ticket-v1.json): one incident with every reporter of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import Session

from bot.storage.models import Conversation, Incident, Message, Ticket, TicketEvent, aware
from bot.tickets.priority import Priorities
from bot.tickets.regions import Regions

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "schemas" / "ticket-v1.json"
VERSION = "ticket-v1"
# How far a point may be from the place, by what it stands for (a region's centroid is as far
# as the region is wide). A GPS pin's own accuracy is not known to us.
UNCERTAINTY_M = {"village": 2_000.0, "district": 8_000.0, "regency": 30_000.0, "province": 150_000.0}
# Cues and guidance that mean an attacker may hear a phone: no call, no sound.
SILENT_CUES = frozenset({"attacker_present", "weapon"})
# Slots of the reporter's dialogue that mean the same: quiet replies, or no messages at all.
QUIET_SLOTS = ("quiet_mode", "silenced")
STREET_HEADS = ("jl", "jln", "jalan", "gg", "gang", "perum", "perumahan", "komplek", "street", "road")
RELATIONS = ("depan", "dpn", "dekat", "dkt", "belakang", "samping", "sebelah", "seberang", "near", "behind")

# Built once: every change of an incident publishes it again. Each reporter's first message and
# the two quiet slots of their tracker; the incident's events and its tickets'.
_FIRST_MESSAGE = (select(func.min(Message.created_at))
                  .where(Message.conversation_id == Conversation.id, Message.direction == "in")
                  .scalar_subquery())
_REPORTERS = (select(Conversation.id, _FIRST_MESSAGE,
                     *[Conversation.tracker[("slots", name)].as_boolean() for name in QUIET_SLOTS])
              .where(Conversation.id.in_(bindparam("conversations", expanding=True))))
_HISTORY = (select(TicketEvent.created_at, TicketEvent.kind, TicketEvent.status, TicketEvent.actor,
                   TicketEvent.note, TicketEvent.ticket_id)
            .where(or_(TicketEvent.incident_id == bindparam("incident"),
                       TicketEvent.ticket_id.in_(bindparam("tickets", expanding=True))))
            .order_by(TicketEvent.id))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The published JSON Schema."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset, whatever the database handed back."""
    if moment is None:
        return None
    return aware(moment).astimezone(UTC).isoformat()


def incident_number(incident: Incident) -> str:
    """The incident's public id."""
    return f"inc-{incident.public_id}"


def document(session: Session, incident: Incident, change: str, priorities: Priorities,
             regions: Regions) -> dict[str, Any]:
    """The ticket-v1 document of an incident, as of now."""
    tickets = list(incident.tickets)
    centre = regions.centre(incident.region)
    reporters = _reporters(session, [t.conversation_id for t in tickets])
    return {
        "schema_version": VERSION,
        "change": change,
        "incident_id": incident_number(incident),
        "ticket_number": tickets[0].number,
        "tickets": [t.number for t in tickets],
        "type": incident.emergency_type,
        "other_types": list(incident.other_types or []),
        "priority": incident.priority,
        "priority_rank": priorities.ranks.get(incident.priority, len(priorities.ranks)),
        "status": incident.status,
        "cues": list(incident.cues or []),
        "location": _location(incident.location),
        "reporters": [_reporter(t, *reporters.get(t.conversation_id, (None, False))) for t in tickets],
        "agencies": list(incident.agencies or []),
        "region": {"code": centre.code, "name": centre.name},
        "created_at": iso(incident.created_at),
        "updated_at": iso(incident.updated_at),
        "deadline_at": iso(incident.deadline_at),
        "first_movement_at": iso(incident.first_movement_at),
        "escalated_at": iso(incident.escalated_at),
        "history": _history(session, incident, tickets),
        "attachments": list(dict.fromkeys(a for t in tickets for a in (t.attachments or []))),
        "handoff_requested": any(t.conversation.needs_person == "request_human" for t in tickets),
    }


def _location(location: dict[str, Any] | None) -> dict[str, Any] | None:
    if not location:
        return None
    admin = location.get("admin") or {}
    words = location.get("words") or location.get("text")
    precision = str(location.get("precision") or "none")
    source = str(location.get("source") or "text")
    point = location.get("lat") is not None and location.get("lon") is not None
    return {
        "lat": location.get("lat"), "lon": location.get("lon"),
        "uncertainty_m": UNCERTAINTY_M.get(precision) if point and source != "gps" else None,
        "source": source, "precision": precision,
        "civic": {"province": admin.get("province"), "regency": admin.get("regency"),
                  "district": admin.get("district"), "village": admin.get("village"),
                  "street": words if _starts(words, STREET_HEADS) else None,
                  "landmark": words if _starts(words, RELATIONS) else None},
        "words": words, "region_code": admin.get("code"),
    }


def _starts(words: str | None, heads: tuple[str, ...]) -> bool:
    first = (words or "").lower().replace(".", " ").split()
    return bool(first) and first[0] in heads


def _reporters(session: Session, conversation_ids: list[int]) -> dict[int, tuple[datetime | None, bool]]:
    """When each reporter first wrote, and whether their phone must stay quiet: one query for every
    reporter of the incident (a collapse in an earthquake has dozens, and each of their updates
    publishes the incident again), reading two slots of each tracker, not the tracker."""
    rows = session.execute(_REPORTERS, {"conversations": conversation_ids})
    return {int(row[0]): (row[1], any(row[2:])) for row in rows}


def _reporter(ticket: Ticket, first: datetime | None, quiet: bool) -> dict[str, Any]:
    conversation: Conversation = ticket.conversation
    silent = quiet or bool(SILENT_CUES & set(ticket.cues or []))
    return {
        "ticket_number": ticket.number,
        "channel": conversation.channel,
        "contact": conversation.sender_id,
        "language": ticket.language,
        # Every Sigap reporter chose text: a voice call back may be impossible or dangerous.
        "accessibility": ["text_only", *(["silent"] if silent else [])],
        "words": ticket.description,
        "people_injured": ticket.people_injured,
        "attachments": list(ticket.attachments or []),
        "transcript": f"/api/conversations/{conversation.public_id}",
        "first_message_at": iso(first or ticket.created_at),
    }


def _history(session: Session, incident: Incident, tickets: list[Ticket]) -> list[dict[str, Any]]:
    numbers = {t.id: t.number for t in tickets}
    events = session.execute(_HISTORY, {"incident": incident.id, "tickets": list(numbers)})
    return [{"at": iso(e.created_at), "kind": e.kind, "status": e.status, "actor": e.actor, "note": e.note,
             "ticket_number": numbers.get(e.ticket_id)} for e in events]
