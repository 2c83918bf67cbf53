"""What actions and the API see of a ticket, what a report adds to one, and the ticket errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from bot.storage.models import Ticket
from bot.tickets.document import iso

STATUSES = ("new", "acknowledged", "en_route", "on_scene", "resolved", "cancelled")
DISPATCHER_STATUSES = STATUSES[1:]
CLOSED_STATUSES = frozenset({"resolved", "cancelled"})
# The statuses that are the first movement the deadline clock waits for.
MOVEMENT = frozenset({"acknowledged", "en_route", "on_scene", "resolved"})


class TicketNotFound(LookupError):
    """No ticket with that id."""


class TicketClosed(ValueError):
    """The ticket is resolved or cancelled and cannot change status."""


@dataclass(frozen=True)
class TicketView:
    """One reporter's ticket as actions see it (dispatchers see the incident's document)."""

    id: int
    number: str
    conversation_id: int
    emergency_type: str
    status: str
    priority: str
    agencies: list[str]
    location_text: str | None
    location: dict[str, Any] | None
    people_injured: str | None
    cues: list[str]
    attachments: list[str]
    description: str
    language: str
    created_at: str | None
    updated_at: str | None
    other_types: list[str] = field(default_factory=list)
    incident_id: int | None = None
    region: str = ""
    # Another reporter had already reported this incident: help is on its way already.
    joined: bool = False

    @classmethod
    def of(cls, ticket: Ticket, joined: bool = False) -> TicketView:
        """The view of a stored ticket."""
        incident = ticket.incident
        return cls(
            id=ticket.id, number=ticket.number, conversation_id=ticket.conversation_id,
            emergency_type=ticket.emergency_type, status=ticket.status, priority=ticket.priority,
            agencies=list(ticket.agencies), location_text=ticket.location_text,
            location=dict(ticket.location) if ticket.location else None,
            people_injured=ticket.people_injured, cues=list(ticket.cues),
            attachments=list(ticket.attachments or []), description=ticket.description,
            language=ticket.language, created_at=iso(ticket.created_at), updated_at=iso(ticket.updated_at),
            other_types=list(ticket.other_types or []), incident_id=ticket.incident_id,
            region=incident.region if incident is not None else "", joined=joined,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


@dataclass(frozen=True)
class TicketDetails:
    """What a report says; every field may be missing at first."""

    description: str = ""
    location_text: str | None = None
    location: dict[str, Any] | None = None
    people_injured: str | None = None
    cues: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
