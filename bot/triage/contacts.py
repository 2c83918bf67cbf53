"""A reporter's contacts with the centre and what each turned out to be; the same text again
from one sender (collapsed) or from many (a chain message); silent chats. The bookkeeping
behind the weekly figures (bot/triage/report.py). Nothing here holds a message back from the
NLU: a repeat was understood the first time, a chain message is understood for each sender."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from bot.messages import STICKER_TEXT, InboundMessage
from bot.storage.models import Contact, Conversation, Message, aware
from nlu.normalise import normalise

# The same text again within this long is counted on the first copy, when it has this many words
# ("ya", "tolong" alone may answer two questions running; a whole report repeated may not).
REPEAT_WINDOW = timedelta(minutes=5)
REPEAT_MIN_WORDS = 3
# A text this long arriving from this many senders within the window is a chain message.
CHAIN_MIN_WORDS = 8
CHAIN_WINDOW = timedelta(minutes=30)
CHAIN_SENDERS = 5
# What a contact was: the highest of its messages' outcomes.
RANK = {"silent": 0, "other": 1, "prank": 2, "information": 3, "incident": 4}
OUTCOMES = tuple(RANK)
# Collapsed copies' provider ids kept on the first copy, so a provider's retry is not counted again.
KEPT_REPEAT_IDS = 20


def words(text: str) -> tuple[str, ...]:
    """The words of a text as the NLU reads them (case, letter repeats and slang evened out)."""
    return tuple(t.text for t in normalise(text).tokens if any(c.isalnum() for c in t.text))


def trivial(text: str, payload: dict[str, Any]) -> bool:
    """Nothing to understand: empty, a sticker, punctuation alone or one typed character. A
    location, a photo or an emoji is something (🔥 may be all a reporter can send)."""
    if payload.get("location") or payload.get("media"):
        return False
    stripped = text.strip()
    if stripped in ("", STICKER_TEXT):
        return True
    if not stripped.isascii():
        return False
    return len(stripped) == 1 or not any(c.isalnum() for c in stripped)


def compared(message: InboundMessage, said: tuple[str, ...]) -> bool:
    """Whether a message (its `words`: `said`) is compared with the sender's previous one."""
    return not (message.gps or message.media or len(said) < REPEAT_MIN_WORDS)


def repeat_of(session: Any, last: Any, message: InboundMessage, said: tuple[str, ...]) -> Message | None:
    """The sender's previous message when this one is the same text again, within the window.
    `last`: the newest message in, its columns as `last_id`, `last_text`, `last_payload`,
    `last_provider_message_id` and `last_created_at` (read with the ingest's first statement,
    when the message is `compared`); None when it was not read."""
    if last is None or last.last_id is None:
        return None
    payload = last.last_payload or {}
    if payload.get("location") or payload.get("media"):
        return None
    retry = message.provider_message_id
    if retry is not None and last.last_provider_message_id == retry:
        return None  # the provider's retry of that very message: recognised as one when stored
    if (aware(message.received_at) - aware(last.last_created_at) > REPEAT_WINDOW
            or words(last.last_text) != said):
        return None
    repeated: Message = session.get_one(Message, last.last_id)
    return repeated


def count_repeat(first: Message, provider_message_id: str | None) -> bool:
    """Count one more copy on the first; False when it is a provider's retry of a copy counted."""
    seen = list(first.payload.get("repeat_ids") or [])
    if provider_message_id is not None and provider_message_id in seen:
        return False
    first.repeats += 1
    if provider_message_id is not None:
        first.payload = {**first.payload, "repeat_ids": [*seen, provider_message_id][-KEPT_REPEAT_IDS:]}
    return True


def digest(said: tuple[str, ...]) -> str | None:
    """A long text's fingerprint, of its `words` (None for short ones: "tolong" from many senders
    is no chain)."""
    if len(said) < CHAIN_MIN_WORDS:
        return None
    return hashlib.blake2b(" ".join(said).encode(), digest_size=8).hexdigest()


def chain_senders(session: Any, fingerprint: str, now: datetime) -> int:
    """How many senders wrote this text within the chain window."""
    return int(session.scalar(
        select(func.count(func.distinct(Message.conversation_id)))
        .where(Message.digest == fingerprint, Message.created_at >= now - CHAIN_WINDOW)) or 0)


@dataclass(frozen=True)
class Chain:
    """A chain message on the supervisor board: its text, how many senders, since when, and the
    region codes of its senders' conversations ("" until a ticket places one)."""

    text: str
    senders: int
    first_at: datetime
    last_at: datetime
    regions: frozenset[str]


def chains(session: Any, since: datetime) -> list[Chain]:
    """Chain messages seen since a moment, the widest first."""
    rows = session.execute(
        select(Message.digest, func.count(func.distinct(Message.conversation_id)),
               func.min(Message.created_at), func.max(Message.created_at), func.max(Message.id))
        .where(Message.digest.is_not(None), Message.created_at >= since)
        .group_by(Message.digest)
        .having(func.count(func.distinct(Message.conversation_id)) >= CHAIN_SENDERS)).all()
    found = []
    for digest_, senders, first_at, last_at, newest in rows:
        text = session.get_one(Message, newest).text
        regions = frozenset(session.scalars(
            select(Conversation.region).join(Message, Message.conversation_id == Conversation.id)
            .where(Message.digest == digest_, Message.created_at >= since).distinct()))
        found.append(Chain(text[:200], int(senders), aware(first_at), aware(last_at), regions))
    return sorted(found, key=lambda c: -c.senders)


def live(contact: Contact | None, now: datetime, length: timedelta) -> bool:
    """Whether a contact is still under way (it ends with `length` of silence)."""
    return contact is not None and now - aware(contact.last_at) < length


def current(session: Any, conversation: Conversation, now: datetime, length: timedelta) -> Contact | None:
    """The contact under way, None when there is none or it ended with an hour's silence."""
    if conversation.contact_id is None:
        return None
    contact: Contact | None = session.get(Contact, conversation.contact_id)
    return contact if live(contact, now, length) else None


def note(session: Any, conversation: Conversation, outcome: str, *, target: str | None = None,
         silent: bool = False, region: str | None = None, received: datetime, now: datetime,
         length: timedelta) -> tuple[Contact, bool]:
    """One more message in the conversation's contact (a new contact after a silence): the contact
    keeps the highest outcome its messages reached, the centre of its report (or of the place a
    non-emergency named) and when it first reported an emergency. Returns the contact and whether
    it reported one just now."""
    reported = now if outcome == "incident" else None
    contact = current(session, conversation, now, length)
    if contact is None:
        # Inserted whole, alone (the conversation's row is written once, with the rest of the turn).
        with session.no_autoflush:
            contact = session.scalars(insert(Contact).returning(Contact), [{
                "conversation_id": conversation.id, "channel": conversation.channel, "outcome": outcome,
                "target": target, "messages": 1, "silent": int(silent), "started_at": received,
                "last_at": now, "region": conversation.region or region, "reported_at": reported,
            }]).one()
        conversation.contact_id = contact.id
        return contact, reported is not None
    if RANK[outcome] > RANK[contact.outcome]:
        contact.outcome, contact.target = outcome, target
    contact.messages += 1
    contact.silent += int(silent)
    contact.last_at = now
    contact.region = conversation.region or region or contact.region
    first_report = reported is not None and contact.reported_at is None
    if first_report:
        contact.reported_at = reported
    return contact, first_report
