"""What the console shows: the live board, one conversation, the supervisor view. Every read is
scoped to the operator's regions: another region's conversation does not exist for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.console.accounts import Staff
from bot.storage.database import Database
from bot.storage.models import (
    AuditEntry,
    Conversation,
    Incident,
    Message,
    Operator,
    OutboxMessage,
    Ticket,
    aware,
    utcnow,
)
from bot.tickets.desk import Rules
from bot.tickets.views import CLOSED_STATUSES
from bot.triage.contacts import chains
from bot.triage.senders import pranks_this_week

# Conversations quiet for longer than this leave the board (unless held or with an open ticket).
BOARD_HOURS = 24
BOARD_LIMIT = 200
# Chain messages of the last hour are on the supervisor board.
CHAIN_SHOWN = timedelta(hours=1)


class NotVisible(LookupError):
    """No such conversation for this operator (another region's, or none): a 404."""


def _at(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


@dataclass
class Row:
    """One line of the board."""

    conversation_id: int
    public_id: str
    channel: str
    emergency_type: str | None
    priority: str | None
    rank: int
    location: str | None
    first_at: datetime | None
    deadline_at: datetime | None
    overdue: bool
    reporters: int
    needs_person: str | None
    held_by: str | None
    region: str
    ticket_number: str | None = None


@dataclass
class Entry:
    """A line of a transcript."""

    direction: str
    author: str  # reporter | bot | operator
    operator: str | None
    text: str
    at: datetime | None
    gps: tuple[float, float] | None = None
    media: list[str] = field(default_factory=list)
    delivery: str | None = None
    repeats: int = 0  # the same text again, counted not stored


class Board:
    """Reads for the console."""

    def __init__(self, db: Database, rules: Rules, silent_minutes: float) -> None:
        self.db = db
        self.rules = rules
        self.silent = timedelta(minutes=silent_minutes)

    def region_of(self, conversation: Conversation) -> str:
        """The centre whose operators see it."""
        return self.rules.regions.code(conversation.region)

    def rows(self, staff: Staff, held_by: str | None = None) -> list[Row]:
        """Open conversations of the operator's regions, most urgent first."""
        since = utcnow() - timedelta(hours=BOARD_HOURS)
        query = (select(Conversation).where(Conversation.closed_at.is_(None))
                 .where(or_(Conversation.updated_at >= since, Conversation.held_by_operator.is_not(None)))
                 .order_by(Conversation.updated_at.desc()).limit(BOARD_LIMIT * 3))
        if held_by is not None:
            query = query.where(Conversation.held_by_operator == held_by)
        with self.db.session() as session:
            found = [self._row(session, c) for c in session.scalars(query)
                     if staff.covers(self.region_of(c))]
        found = found[:BOARD_LIMIT]
        found.sort(key=lambda r: (r.rank, not r.overdue, r.needs_person is None,
                                  r.first_at or utcnow()))
        return found

    def _row(self, session: Session, conversation: Conversation) -> Row:
        tickets = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)
                                  .order_by(Ticket.id.desc())).all()
        newest = tickets[0] if tickets else None
        ticket = next((t for t in tickets if t.status not in CLOSED_STATUSES), newest)
        incident: Incident | None = ticket.incident if ticket else None
        first = session.scalar(select(Message.created_at).where(
            Message.conversation_id == conversation.id, Message.direction == "in")
            .order_by(Message.id).limit(1))
        ranks = self.rules.priorities.ranks
        priority = (incident.priority if incident else None) or (ticket.priority if ticket else None)
        reason = conversation.needs_person or self._silent(session, conversation, ticket)
        rank = ranks.get(priority or "", len(ranks))
        if reason and not ticket:
            rank = min(rank, ranks.get("high", rank))
        deadline = _at(incident.deadline_at) if incident else None
        live = incident is not None and incident.status not in CLOSED_STATUSES
        overdue = bool(live and deadline and incident and incident.first_movement_at is None
                       and deadline < utcnow())
        location = None
        if incident and incident.location:
            location = incident.location.get("words") or incident.location.get("text")
        elif ticket:
            location = ticket.location_text
        kind = incident.emergency_type if incident else (ticket.emergency_type if ticket else None)
        return Row(
            conversation_id=conversation.id, public_id=conversation.public_id, channel=conversation.channel,
            emergency_type=kind,
            priority=priority, rank=rank, location=location, first_at=_at(first),
            deadline_at=deadline if live else None, overdue=overdue,
            reporters=len(incident.tickets) if incident else (1 if ticket else 0),
            needs_person=reason, held_by=conversation.held_by_operator,
            region=self.region_of(conversation), ticket_number=ticket.number if ticket else None,
        )

    def _silent(self, session: Session, conversation: Conversation, ticket: Ticket | None) -> str | None:
        """The reporter called for help (a ticket is open) and has not written for a while since
        the bot last wrote: perhaps they cannot."""
        if ticket is None or ticket.status in CLOSED_STATUSES or conversation.held_by_operator:
            return None
        last = session.execute(select(Message.direction, Message.created_at)
                               .where(Message.conversation_id == conversation.id)
                               .order_by(Message.id.desc()).limit(1)).first()
        last_in = session.scalar(select(Message.created_at).where(
            Message.conversation_id == conversation.id, Message.direction == "in")
            .order_by(Message.id.desc()).limit(1))
        if last and last[0] == "out" and last_in and utcnow() - (_at(last_in) or utcnow()) > self.silent:
            return "silent"
        return None

    # -- one conversation ------------------------------------------------------------------------
    def conversation(self, session: Session, staff: Staff, public_id: str) -> Conversation:
        """The conversation, if it is the operator's to see; NotVisible otherwise."""
        found = session.scalars(select(Conversation).where(Conversation.public_id == public_id)).first()
        if found is None or not staff.covers(self.region_of(found)):
            raise NotVisible(public_id)
        return found

    def detail(self, staff: Staff, public_id: str) -> dict[str, Any]:
        """Transcript, tickets and the row of one conversation."""
        with self.db.session() as session:
            conversation = self.conversation(session, staff, public_id)
            messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                       .order_by(Message.id)).all()
            outbox_ids = [m.payload.get("outbox_id") for m in messages if m.payload.get("outbox_id")]
            status: dict[int, str] = {}
            if outbox_ids:
                for row in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))):
                    status[row.id] = row.delivery_status or row.status
            entries = [_entry(m, status) for m in messages]
            tickets = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)
                                      .order_by(Ticket.id)).all()
            audit = session.scalars(select(AuditEntry).where(AuditEntry.conversation_id == conversation.id)
                                    .order_by(AuditEntry.id)).all()
            return {
                "row": self._row(session, conversation),
                "conversation": {"public_id": conversation.public_id, "channel": conversation.channel,
                                 "contact": conversation.sender_id, "language": conversation.language,
                                 "held_by": conversation.held_by_operator,
                                 "needs_person": conversation.needs_person,
                                 "abusive": conversation.abusive_since is not None,
                                 "abusive_by": conversation.abusive_by,
                                 "pranks_this_week": pranks_this_week(conversation.pranks or [])},
                "entries": entries,
                "tickets": [_ticket(t) for t in tickets],
                "audit": [(_at(a.created_at), a.operator, a.action, a.detail) for a in audit],
            }

    # -- supervisors -----------------------------------------------------------------------------
    def supervision(self, staff: Staff) -> dict[str, Any]:
        """Escalations, who holds what, the operators one may reassign to, chain messages of the
        last hour, the recent audit log."""
        rows = self.rows(staff)
        with self.db.session() as session:
            active = select(Operator).where(Operator.disabled_at.is_(None)).order_by(Operator.name)
            operators = [o for o in session.scalars(active)
                         if staff.role == "admin" or o.role == "admin" or set(o.regions) & staff.regions]
            public = {r.conversation_id: r.public_id for r in rows}
            audit = session.scalars(select(AuditEntry).where(or_(
                AuditEntry.conversation_id.in_(list(public)), AuditEntry.conversation_id.is_(None)))
                .order_by(AuditEntry.id.desc()).limit(100)).all()
            return {
                "escalations": [r for r in rows if r.overdue],
                "held": [r for r in rows if r.held_by],
                "operators": [(o.name, o.role, list(o.regions)) for o in operators],
                # A chain is shown where one of its senders' centres is the supervisor's.
                "chains": [c for c in chains(session, utcnow() - CHAIN_SHOWN)
                           if any(staff.covers(self.rules.regions.code(r)) for r in c.regions)],
                "audit": [(_at(a.created_at), a.operator, a.action, a.detail,
                           public.get(a.conversation_id or 0)) for a in audit],
            }


def _entry(message: Message, status: dict[int, str]) -> Entry:
    payload = message.payload or {}
    operator = payload.get("operator")
    author = "reporter" if message.direction == "in" else ("operator" if operator else "bot")
    point = payload.get("location")
    gps = (float(point["latitude"]), float(point["longitude"])) if point else None
    outbox_id = payload.get("outbox_id")
    # A pull channel's reply went back in the answer to the reporter's own request.
    pulled = "answered" if message.direction == "out" else None
    delivery = status.get(int(outbox_id)) if outbox_id else pulled
    return Entry(message.direction, author, operator, message.text, _at(message.created_at), gps,
                 [str(m) for m in payload.get("media") or []], delivery, message.repeats or 0)


def _ticket(ticket: Ticket) -> dict[str, Any]:
    location = ticket.location or {}
    incident = ticket.incident
    return {
        "id": ticket.id, "number": ticket.number, "type": ticket.emergency_type,
        "other_types": list(ticket.other_types or []), "status": ticket.status,
        "priority": ticket.priority, "priority_override": ticket.priority_override,
        "agencies": list(ticket.agencies or []), "agencies_override": ticket.agencies_override,
        "location_text": ticket.location_text,
        "lat": location.get("lat"), "lon": location.get("lon"),
        "region": incident.region if incident else "",
        "reporters": len(incident.tickets) if incident else 1,
        "notes": [(_at(e.created_at), e.actor, e.note) for e in ticket.events if e.kind == "note"],
        "history": [(_at(e.created_at), e.actor, e.kind, e.status or "", e.note) for e in ticket.events],
    }
