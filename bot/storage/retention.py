"""Data retention: conversations quiet for longer than the centre keeps them are anonymised.
Texts are replaced, the reporter's address becomes a hash (the same reporter stays one row, not
a person), exact places and free words go; what the figures need stays: types, priorities,
agencies, regions and district, statuses and every time. An open report is never touched."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from bot.coordination import jobs
from bot.storage.database import Database
from bot.storage.models import (
    AuditEntry,
    Conversation,
    DispatchItem,
    Incident,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    utcnow,
)
from bot.tickets.views import CLOSED_STATUSES

REMOVED = "[removed]"
ANONYMOUS = "anon:"
# Conversations anonymised per transaction (a large first run does not hold one huge lock).
BATCH = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retained:
    """What one run anonymised."""

    conversations: int
    messages: int
    incidents: int


def contact_hash(channel: str, sender_id: str) -> str:
    """The reporter's address as the anonymised row keeps it: one-way, the same for the same."""
    return ANONYMOUS + hashlib.sha256(f"{channel}\x00{sender_id}".encode()).hexdigest()[:24]


def _place(location: dict[str, Any] | None) -> dict[str, Any] | None:
    """A place reduced to its district: no point, no words."""
    if not location:
        return location
    admin = {k: v for k, v in (location.get("admin") or {}).items() if k != "village"}
    return {"admin": admin, "precision": "district" if admin.get("district") else "regency",
            "source": location.get("source")}


def anonymise(db: Database, days: int, now: datetime | None = None) -> Retained:
    """Anonymise what has been quiet for `days` days; returns how much."""
    cutoff = (now or utcnow()) - timedelta(days=days)
    conversations = messages = 0
    while True:
        with db.session() as session:
            batch = _due(session, cutoff)
            for conversation in batch:
                messages += _conversation(session, conversation)
            conversations += len(batch)
        if len(batch) < BATCH:
            break
    with db.session() as session:
        incidents = _incidents(session, cutoff)
    if conversations or incidents:
        log.info("retention: %d conversations (%d messages) and %d incidents anonymised",
                 conversations, messages, incidents)
    return Retained(conversations, messages, incidents)


def _due(session: Any, cutoff: datetime) -> list[Conversation]:
    open_report = select(Ticket.conversation_id).where(Ticket.status.not_in(CLOSED_STATUSES))
    return list(session.scalars(
        select(Conversation).where(Conversation.updated_at < cutoff,
                                   Conversation.sender_id.not_like(f"{ANONYMOUS}%"),
                                   Conversation.held_by_operator.is_(None),
                                   Conversation.id.not_in(open_report))
        .order_by(Conversation.id).limit(BATCH).with_for_update(skip_locked=True)))


def _conversation(session: Any, conversation: Conversation) -> int:
    key = conversation.id
    conversation.sender_id = contact_hash(conversation.channel, conversation.sender_id)
    conversation.tracker, conversation.pranks = {}, []
    changed = session.execute(update(Message).where(Message.conversation_id == key)
                              .values(text=REMOVED, payload={}, digest=None)).rowcount
    session.execute(update(OutboxMessage).where(OutboxMessage.conversation_id == key)
                    .values(text=REMOVED, payload={}, last_error=None))
    session.execute(update(AuditEntry).where(AuditEntry.conversation_id == key).values(detail=""))
    for ticket in session.scalars(select(Ticket).where(Ticket.conversation_id == key)):
        ticket.description, ticket.location_text, ticket.people_injured = REMOVED, None, None
        ticket.location, ticket.attachments = _place(ticket.location) or {}, []
        session.execute(update(TicketEvent).where(TicketEvent.ticket_id == ticket.id).values(note=""))
    return int(changed or 0)


def _incidents(session: Any, cutoff: datetime) -> int:
    """Closed incidents quiet since the cutoff: the district stays, the point and words go, and so
    does the published document (it names reporters and their words)."""
    due = list(session.scalars(select(Incident).where(
        Incident.updated_at < cutoff, Incident.status.in_(CLOSED_STATUSES),
        Incident.place_key.is_not(None) | Incident.lat.is_not(None))))
    for incident in due:
        incident.location = _place(incident.location)
        incident.lat = incident.lon = incident.place_key = None
        for item in session.scalars(select(DispatchItem).where(DispatchItem.incident_id == incident.id)):
            payload = item.payload or {}
            item.payload = {k: payload.get(k) for k in ("schema_version", "change", "incident_id", "type",
                                                        "priority", "status", "region", "created_at")}
    return len(due)


# The retention job runs this often in `sigap worker` (and in serve when it runs the workers).
EVERY_SECONDS = 6 * 3600.0


async def run(db: Database, days: int, every: float = EVERY_SECONDS) -> None:
    """Anonymise what is due, again every few hours, until cancelled."""
    await jobs.every(every, "retention run", lambda: anonymise(db, days))
