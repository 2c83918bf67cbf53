"""Scheduled messages to a reporter (guidance reminders), kept in the outbox until due."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from bot.storage.database import Database
from bot.storage.models import Conversation, OutboxMessage, utcnow


def schedule(db: Database, conversation_id: int, texts: list[tuple[float, str]], topic: str) -> None:
    """Queue `(seconds from now, text)` reminders on the conversation's channel."""
    now = utcnow()
    with db.session() as session:
        channel = session.get_one(Conversation, conversation_id).channel
        for delay, text in texts:
            session.add(OutboxMessage(
                conversation_id=conversation_id, channel=channel, kind="reminder", text=text,
                payload={"topic": topic}, next_attempt_at=now + timedelta(seconds=delay),
            ))


def cancel(db: Database, conversation_id: int) -> int:
    """Drop reminders not yet sent (help arrived, the person breathes, the reporter stopped)."""
    with db.session() as session:
        result = session.execute(
            delete(OutboxMessage)
            .where(OutboxMessage.conversation_id == conversation_id)
            .where(OutboxMessage.kind == "reminder", OutboxMessage.status == "pending")
        )
        return int(getattr(result, "rowcount", 0) or 0)
