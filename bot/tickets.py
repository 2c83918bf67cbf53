"""Tickets: open as soon as the type is known, update as details arrive, track status."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.database import Database
from bot.dispatch import publish
from bot.models import Ticket, TicketEvent, utcnow
from bot.routing import DESK, Routing

STATUSES = ("new", "acknowledged", "en_route", "on_scene", "resolved", "cancelled")
DISPATCHER_STATUSES = STATUSES[1:]
CLOSED_STATUSES = frozenset({"resolved", "cancelled"})
# Cues that make a ticket the most urgent kind (a life at stake right now).
CRITICAL_PRIORITY_CUES = frozenset(
    {"not_breathing", "unconscious", "heavy_bleeding", "trapped", "weapon", "attacker_present"}
)


class TicketNotFound(LookupError):
    """No ticket with that id."""


class TicketClosed(ValueError):
    """The ticket is resolved or cancelled and cannot change status."""


@dataclass(frozen=True)
class TicketView:
    """A ticket as dispatchers, the API and actions see it."""

    id: int
    number: str
    conversation_id: int
    emergency_type: str
    status: str
    priority: str
    agencies: list[str]
    location_text: str | None
    location: dict[str, Any]
    people_injured: str | None
    cues: list[str]
    attachments: list[str]
    description: str
    language: str
    created_at: str
    updated_at: str
    other_types: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        """The view of a stored ticket."""
        return cls(
            id=ticket.id,
            number=ticket.number,
            conversation_id=ticket.conversation_id,
            emergency_type=ticket.emergency_type,
            status=ticket.status,
            priority=ticket.priority,
            agencies=list(ticket.agencies),
            location_text=ticket.location_text,
            location=dict(ticket.location or {}),
            people_injured=ticket.people_injured,
            cues=list(ticket.cues),
            attachments=list(ticket.attachments or []),
            description=ticket.description,
            language=ticket.language,
            created_at=ticket.created_at.isoformat(),
            updated_at=ticket.updated_at.isoformat(),
            other_types=list(ticket.other_types or []),
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


class TicketDesk:
    """Creates, updates and closes tickets and publishes each change to dispatch."""

    def __init__(self, db: Database, routing: Routing) -> None:
        self.db = db
        self.routing = routing

    def open(
        self, conversation_id: int, emergency_type: str, language: str, details: TicketDetails
    ) -> TicketView:
        """Open and route a ticket at once; the location may follow."""
        with self.db.session() as session:
            ticket = Ticket(
                conversation_id=conversation_id,
                emergency_type=emergency_type,
                language=language,
                agencies=self.routing.agencies_for(emergency_type, details.cues),
                status="new",
            )
            _apply(ticket, details)
            session.add(ticket)
            session.flush()
            session.add(TicketEvent(ticket_id=ticket.id, kind="created", note=emergency_type))
            view = TicketView.of(ticket)
            publish(session, view, "created")
            return view

    def update(self, ticket_id: int, details: TicketDetails) -> TicketView:
        """Add details (cues may add agencies and raise the priority) and tell dispatch."""
        with self.db.session() as session:
            ticket = _get(session, ticket_id)
            _apply(ticket, details)
            return self._reroute(session, ticket, ticket.agencies, "updated", "")

    def add_type(self, ticket_id: int, other_type: str, details: TicketDetails) -> TicketView:
        """A second emergency in the same report (a fire, then someone unconscious): the ticket
        keeps its type and gains the other type's agencies."""
        with self.db.session() as session:
            ticket = _get(session, ticket_id)
            _apply(ticket, details)
            if other_type in (ticket.emergency_type, *ticket.other_types):
                return self._reroute(session, ticket, ticket.agencies, "updated", "")
            ticket.other_types = [*ticket.other_types, other_type]
            return self._reroute(session, ticket, ticket.agencies, "type_added", other_type)

    def retype(
        self, ticket_id: int, emergency_type: str, details: TicketDetails, actor: str = "bot"
    ) -> tuple[TicketView, str]:
        """The type arrives (it was unknown) or is corrected: the ticket is routed anew, the
        agencies it no longer concerns are told it was withdrawn. Returns the old type too."""
        with self.db.session() as session:
            ticket = _get(session, ticket_id)
            _apply(ticket, details)
            old = ticket.emergency_type
            if old == emergency_type:
                return self._reroute(session, ticket, ticket.agencies, "updated", ""), old
            ticket.emergency_type = emergency_type
            ticket.other_types = [t for t in ticket.other_types if t != emergency_type]
            view = self._reroute(session, ticket, [], "type_changed", f"{old} -> {emergency_type}",
                                 actor)
            return view, old

    def _reroute(
        self, session: Session, ticket: Ticket, keep: list[str], kind: str, note: str,
        actor: str = "bot",
    ) -> TicketView:
        """Agencies = those kept + the type's, the other types' and the cues'; every agency of
        the ticket hears of the change, and one that lost it hears it was withdrawn."""
        before = list(ticket.agencies)
        wanted = [*keep]
        for kind_of in (ticket.emergency_type, *ticket.other_types):
            wanted += self.routing.agencies_for(kind_of, ticket.cues)
        agencies = list(dict.fromkeys(wanted))
        if len(agencies) > 1 and DESK in agencies:
            agencies.remove(DESK)
        ticket.agencies = agencies
        ticket.updated_at = utcnow()
        session.add(TicketEvent(ticket_id=ticket.id, kind=kind, note=note, actor=actor[:64]))
        view = TicketView.of(ticket)
        publish(session, view, kind if kind != "type_added" else "updated")
        withdrawn = [a for a in before if a not in agencies]
        if withdrawn:
            publish(session, view, "withdrawn", agencies=withdrawn)
        return view

    def set_status(
        self, ticket_id: int, status: str, actor: str, note: str = "",
        also: Callable[[Session, TicketView], None] | None = None,
    ) -> TicketView:
        """Record a status change; a closed ticket stays closed. `also` writes in the same
        transaction (the message telling the reporter), so neither lands without the other."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.db.session() as session:
            ticket = _get(session, ticket_id)
            if ticket.status in CLOSED_STATUSES:
                raise TicketClosed(f"ticket {ticket.number} is {ticket.status}")
            ticket.status = status
            ticket.updated_at = utcnow()
            session.add(TicketEvent(ticket_id=ticket.id, kind="status", status=status,
                                    actor=actor[:64], note=note))
            view = TicketView.of(ticket)
            if actor == "reporter":
                publish(session, view, "status")
            if also is not None:
                also(session, view)
            return view

    def get(self, ticket_id: int) -> TicketView:
        """One ticket."""
        with self.db.session() as session:
            return TicketView.of(_get(session, ticket_id))

    def events(self, ticket_id: int) -> list[dict[str, Any]]:
        """A ticket's history, oldest first."""
        with self.db.session() as session:
            return [
                {"kind": e.kind, "status": e.status, "actor": e.actor, "note": e.note,
                 "at": e.created_at.isoformat()}
                for e in _get(session, ticket_id).events
            ]

    def list(self, status: str | None = None, limit: int = 100) -> list[TicketView]:
        """Newest tickets first, optionally of one status."""
        query = select(Ticket).order_by(Ticket.id.desc()).limit(limit)
        if status:
            query = query.where(Ticket.status == status)
        with self.db.session() as session:
            return [TicketView.of(t) for t in session.scalars(query)]

    def open_for_conversation(self, conversation_id: int) -> TicketView | None:
        """The conversation's newest ticket that is not closed."""
        query = (
            select(Ticket)
            .where(Ticket.conversation_id == conversation_id)
            .where(Ticket.status.not_in(CLOSED_STATUSES))
            .order_by(Ticket.id.desc())
            .limit(1)
        )
        with self.db.session() as session:
            ticket = session.scalars(query).first()
            return TicketView.of(ticket) if ticket else None


def _get(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


def _apply(ticket: Ticket, details: TicketDetails) -> None:
    if details.description:
        ticket.description = (
            f"{ticket.description}\n{details.description}".strip()
            if ticket.description and details.description not in ticket.description
            else ticket.description or details.description
        )[-4000:]
    if details.location_text:
        ticket.location_text = details.location_text
    if details.location:
        ticket.location = details.location
    if details.people_injured:
        ticket.people_injured = details.people_injured
    if details.attachments:
        ticket.attachments = list(dict.fromkeys([*(ticket.attachments or []), *details.attachments]))
    if details.cues:
        ticket.cues = sorted(set(ticket.cues or []) | set(details.cues))
    if set(ticket.cues or []) & CRITICAL_PRIORITY_CUES:
        ticket.priority = "critical"
