"""A centre's past, for the benchmarks: the rows a year of reports leaves behind.

    fill(database_url, reporters)

Each past reporter has a conversation, a contact, two messages in and two out and two sent
replies in the outbox; every third reported an emergency: a closed ticket, its incident, two
events and two notices, relayed and acknowledged. Their times spread over the past year. The
benchmarks run their reporters on top of these, so a statement whose time grows with the
table (a scan where an index should be) shows in their figures.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.storage.database import Database
from bot.storage.models import (
    Contact,
    Conversation,
    DispatchItem,
    Incident,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    utcnow,
)

BATCH = 5_000


def fill(database_url: str, reporters: int) -> float:
    """Add `reporters` past reporters and their rows; returns the seconds it took."""
    started = time.perf_counter()
    db = Database(database_url)
    engine = db.engine
    now = utcnow()
    with engine.begin() as connection:
        first = int(connection.scalar(select(func.coalesce(func.max(Conversation.id), 0))) or 0) + 1
    for start in range(0, reporters, BATCH):
        numbers = range(start, min(start + BATCH, reporters))
        with engine.begin() as connection:
            _batch(connection, first, numbers, now)
    db.dispose()
    return time.perf_counter() - started


def _batch(connection: Any, first: int, numbers: range, now: Any) -> None:
    def when(n: int) -> Any:
        return now - timedelta(days=2 + n % 363, minutes=n % 1440)

    conversations = connection.execute(insert(Conversation).returning(Conversation.id,
                                                                      sort_by_parameter_order=True), [
        {"channel": "sms", "sender_id": f"+62899{first + n:08d}", "region": "33.24",
         "created_at": when(n), "updated_at": when(n)} for n in numbers]).scalars().all()
    ids = dict(zip(numbers, conversations, strict=True))
    connection.execute(insert(Contact), [
        {"conversation_id": ids[n], "channel": "sms", "region": "33.24", "messages": 2,
         "outcome": "incident" if n % 3 == 0 else "other", "started_at": when(n), "last_at": when(n)}
        for n in numbers])
    connection.execute(insert(Message), [
        {"conversation_id": ids[n], "channel": "sms", "direction": direction, "text": text,
         "provider_message_id": f"past-{first + n}-{i}" if direction == "in" else None,
         "created_at": when(n), "processed_at": when(n) if direction == "in" else None}
        for n in numbers
        for i, (direction, text) in enumerate((("in", "tolong ada kebakaran rumah"), ("out", "Di mana?"),
                                                ("in", "jl pemuda 3"), ("out", "Petugas menuju lokasi.")))])
    connection.execute(insert(OutboxMessage), [
        {"conversation_id": ids[n], "channel": "sms", "text": "Petugas menuju lokasi.", "status": "sent",
         "attempts": 1, "created_at": when(n), "sent_at": when(n), "next_attempt_at": when(n)}
        for n in numbers for _ in range(2)])
    reported = [n for n in numbers if n % 3 == 0]
    if not reported:
        return
    incidents = connection.execute(insert(Incident).returning(Incident.id, sort_by_parameter_order=True), [
        {"emergency_type": "fire", "status": "resolved", "agencies": ["damkar"], "region": "33.24",
         "created_at": when(n), "updated_at": when(n), "deadline_at": when(n)} for n in reported
    ]).scalars().all()
    tickets = connection.execute(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), [
        {"conversation_id": ids[n], "incident_id": incident, "emergency_type": "fire", "status": "resolved",
         "agencies": ["damkar"], "created_at": when(n), "updated_at": when(n)}
        for n, incident in zip(reported, incidents, strict=True)]).scalars().all()
    connection.execute(insert(TicketEvent), [
        {"ticket_id": ticket, "incident_id": incident if kind == "status" else None, "kind": kind,
         "status": "resolved" if kind == "status" else None, "created_at": when(n)}
        for n, ticket, incident in zip(reported, tickets, incidents, strict=True)
        for kind in ("created", "status")])
    connection.execute(insert(DispatchItem), [
        {"agency": "damkar", "ticket_id": ticket, "incident_id": incident, "region": "33.24",
         "payload": {"change": change}, "created_at": when(n), "relayed_at": when(n), "acked_at": when(n)}
        for n, ticket, incident in zip(reported, tickets, incidents, strict=True)
        for change in ("created", "status")])
