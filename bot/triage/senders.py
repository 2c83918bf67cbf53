"""A sender's standing: pranks scored over time (each counts half after a week), the abusive
mark a supervisor sets, and when their replies are throttled. Throttling only ever holds back
replies: every message is stored and understood, and an emergency is always answered."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.models import Conversation, utcnow

HALF_LIFE = timedelta(days=7)
KEPT = 50


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def prank_score(pranks: list[Any], now: datetime | None = None) -> float:
    """Each prank counts 1, halved for every week since."""
    now = now or utcnow()
    moments = [m for m in map(_moment, pranks) if m is not None]
    return sum(0.5 ** (max((now - m).total_seconds(), 0.0) / HALF_LIFE.total_seconds()) for m in moments)


def pranks_this_week(pranks: list[Any], now: datetime | None = None) -> int:
    """How many pranks in the last seven days."""
    now = now or utcnow()
    return sum(1 for m in map(_moment, pranks) if m is not None and now - m <= timedelta(days=7))


def record_prank(conversation: Conversation, now: datetime | None = None) -> None:
    """One more prank on the sender's record."""
    conversation.pranks = [*(conversation.pranks or []), (now or utcnow()).isoformat()][-KEPT:]


def history(conversation: Conversation, now: datetime | None = None) -> str | None:
    """What an operator reads on a ticket from a sender with a record, or None."""
    count = pranks_this_week(conversation.pranks or [], now)
    parts = [f"{count} prank{'s' if count != 1 else ''} this week"] if count else []
    if conversation.abusive_since is not None:
        parts.append(f"marked abusive by {conversation.abusive_by or 'a supervisor'}")
    return "sender history: " + ", ".join(parts) if parts else None


def set_abusive(conversation: Conversation, by: str) -> None:
    """The supervisor's mark: the sender's replies are throttled from now on."""
    conversation.abusive_since, conversation.abusive_by = utcnow(), by[:64]


def clear_record(conversation: Conversation) -> None:
    """No mark, no pranks on record."""
    conversation.abusive_since, conversation.abusive_by, conversation.pranks = None, None, []


def mark(db: Database, channel: str, sender_id: str, by: str) -> bool:
    """Mark a sender abusive; False when no such sender has written."""
    with db.session() as session:
        found = _find(session, channel, sender_id)
        if found is not None:
            set_abusive(found, by)
        return found is not None


def clear(db: Database, channel: str, sender_id: str) -> bool:
    """Clear a sender; False when no such sender has written."""
    with db.session() as session:
        found = _find(session, channel, sender_id)
        if found is not None:
            clear_record(found)
        return found is not None


def _find(session: Any, channel: str, sender_id: str) -> Conversation | None:
    found: Conversation | None = session.scalars(select(Conversation).where(
        Conversation.channel == channel, Conversation.sender_id == sender_id)).first()
    return found
