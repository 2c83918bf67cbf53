"""The inbox: an inbound message committed before any answer to the provider, a provider's
retry recognised, the same text again counted on the first copy, a chain message counted; and
what the turns read back from it (pending messages, replies, notices for pull channels)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from bot.messages import Accepted, InboundMessage, OutboundMessage
from bot.metrics import CHAIN_MESSAGES, MESSAGES_IN, REPEATS
from bot.storage.database import Database
from bot.storage.models import UNPROCESSED, Conversation, Message, OutboxMessage, utcnow
from bot.tickets.regions import Regions
from bot.triage import contacts

log = logging.getLogger(__name__)
# The statements of every message's ingest, built once.
_TOUCH_CONVERSATION = (
    update(Conversation)
    .where(Conversation.channel == bindparam("on_channel"), Conversation.sender_id == bindparam("sender"))
    .values(updated_at=bindparam("now"))
    .returning(Conversation.id, Conversation.public_id, Conversation.region, Conversation.closed_at))
# The same, with the sender's newest message in, by column (what a repeat is compared with): one
# statement. Its conversation is found by the sender again, not by the updated row: SQLite names
# no table in RETURNING, where `id` would be the message's own.
_SENDER = aliased(Conversation)
_SENDERS_CONVERSATION = (select(_SENDER.id).where(_SENDER.channel == bindparam("on_channel"),
                                                  _SENDER.sender_id == bindparam("sender"))
                         .scalar_subquery())
_TOUCH_CONVERSATION_AND_LAST = _TOUCH_CONVERSATION.returning(*[
    select(column).where(Message.conversation_id == _SENDERS_CONVERSATION, Message.direction == "in")
    .order_by(Message.id.desc()).limit(1).scalar_subquery().label(f"last_{column.key}")
    for column in (Message.id, Message.text, Message.payload, Message.provider_message_id,
                   Message.created_at)])
_ADD_MESSAGE = insert(Message).returning(Message.id)
# Where the console shows a conversation: its centre's region code and its public id.
Where = tuple[str, str]


class Inbox:
    """Inbound messages and what is read back from them (blocking: run in a thread)."""

    def __init__(self, db: Database, regions: Regions) -> None:
        self.db = db
        self.regions = regions

    def take_notifications(self, conversation_id: int) -> list[OutboundMessage]:
        """Pending outbox messages of a conversation, marked as delivered (pull channels)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.conversation_id == conversation_id)
                .where(OutboxMessage.status == "pending")
                .where(OutboxMessage.next_attempt_at <= utcnow())
                .order_by(OutboxMessage.id)
            ).all()
            for row in rows:
                row.status, row.sent_at = "sent", utcnow()
                row.attempts += 1
            # What the notice is about (ticket, status); a push channel's hints stay out.
            return [OutboundMessage(r.text, custom={k: v for k, v in r.payload.items() if k != "custom"})
                    for r in rows]

    def store(self, message: InboundMessage) -> tuple[Accepted, Where | None]:
        """Commit an inbound message; recognise a provider's retry and the same text again."""
        # Two first messages of a new reporter race to create the conversation row: the
        # loser finds it on its second try.
        for _attempt in range(3):
            try:
                return self._insert(message)
            except IntegrityError:
                duplicate = self._duplicate(message)
                if duplicate is not None:
                    return duplicate, None
        raise RuntimeError("could not store the message after three attempts")

    def _insert(self, message: InboundMessage) -> tuple[Accepted, Where]:
        # The conversation's row is updated (and locked) first, for the few statements of this
        # transaction. Every message a provider sends comes through here: built statements, run
        # on the connection (no unit of work), three statements in the common case.
        with self.db.session() as session, session.no_autoflush:
            connection = session.connection()
            said = contacts.words(message.text)
            conversation = self._conversation(session, message, contacts.compared(message, said))
            region = self.regions.code(conversation.region)
            where = (region, conversation.public_id)
            first = contacts.repeat_of(session, conversation.last, message, said)
            if first is not None:
                if contacts.count_repeat(first, message.provider_message_id):
                    REPEATS.labels(region).inc()
                return Accepted(first.id, conversation.id, duplicate=True, collapsed=True), where
            fingerprint = contacts.digest(said)
            message_id = connection.execute(_ADD_MESSAGE, {
                "conversation_id": conversation.id, "channel": message.channel, "direction": "in",
                "text": message.text, "provider_message_id": message.provider_message_id,
                "payload": _payload(message), "digest": fingerprint, "created_at": message.received_at,
            }).scalar_one()
            MESSAGES_IN.labels(message.channel).inc()
            if fingerprint is not None:
                _count_chain(session, fingerprint, message.received_at, region)
            return Accepted(message_id, conversation.id, duplicate=False), where

    def _duplicate(self, message: InboundMessage) -> Accepted | None:
        with self.db.session() as session:
            row = session.scalars(
                select(Message).where(
                    Message.channel == message.channel,
                    Message.provider_message_id == message.provider_message_id,
                )
            ).first()
            if row is None:
                return None
            log.info("retry of %s message %s recognised", message.channel, row.id)
            return Accepted(row.id, row.conversation_id, duplicate=True)

    @staticmethod
    def _conversation(session: Any, message: InboundMessage, compared: bool) -> _Sender:
        """The sender's conversation, its last activity now (and, when `compared`, its newest
        message in): one statement when it exists."""
        now = utcnow()
        mine = {"on_channel": message.channel, "sender": message.sender_id, "now": now}
        touch = _TOUCH_CONVERSATION_AND_LAST if compared else _TOUCH_CONVERSATION
        found = session.connection().execute(touch, mine).first()
        if found is None:
            conversation = Conversation(channel=message.channel, sender_id=message.sender_id, updated_at=now)
            session.add(conversation)
            session.flush()
            return _Sender(conversation.id, conversation.public_id, conversation.region)
        if found.closed_at is not None:
            # Closed (by an operator, or after a non-emergency): a new dialogue, a new contact.
            session.execute(update(Conversation).where(Conversation.id == found.id)
                            .values(closed_at=None, tracker={}, contact_id=None))
        return _Sender(found.id, found.public_id, found.region, found if compared else None)

    def unprocessed(self, older_than: timedelta, limit: int) -> list[tuple[int, int]]:
        """(conversation, message) of every message no turn finished, stored before `older_than` ago."""
        with self.db.session() as session:
            rows = session.execute(
                select(Message.conversation_id, Message.id)
                .where(UNPROCESSED, Message.created_at <= utcnow() - older_than)  # its partial index
                .order_by(Message.id).limit(limit)
            )
            return [(int(c), int(m)) for c, m in rows]

    def replies_to(self, message_id: int) -> list[OutboundMessage]:
        """What the bot answered to a message, in order."""
        with self.db.session() as session:
            rows = session.scalars(
                select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)
            )
            return [recorded_reply(r.text, r.payload) for r in rows]

    def where(self, conversation_id: int) -> Where:
        """A conversation's centre code and public id (what the console's live updates name)."""
        with self.db.session() as session:
            row = session.execute(select(Conversation.region, Conversation.public_id)
                                  .where(Conversation.id == conversation_id)).one()
        return self.regions.code(row[0]), row[1]


class _Sender(NamedTuple):
    """What storing a message needs of its conversation."""

    id: int
    public_id: str
    region: str
    # Its newest message in, when the message is compared with it (None: not compared, or the
    # conversation is new: no earlier message to repeat).
    last: Any = None


def recorded_reply(text: str, payload: dict[str, Any]) -> OutboundMessage:
    """A reply as the transcript records it: its text and what went with it."""
    return OutboundMessage.of({"text": text, **payload})


def _payload(message: InboundMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if message.gps:
        payload["location"] = {"latitude": message.latitude, "longitude": message.longitude}
    if message.media:
        payload["media"] = list(message.media)
    return payload


def _count_chain(session: Any, fingerprint: str, received: datetime, region: str) -> None:
    """A long text many senders sent within minutes is a chain message (the supervisor board
    shows it); each sender's first copy is still understood like any message."""
    senders = contacts.chain_senders(session, fingerprint, received)
    if senders == contacts.CHAIN_SENDERS:
        CHAIN_MESSAGES.labels(region).inc(senders)
    elif senders > contacts.CHAIN_SENDERS:
        CHAIN_MESSAGES.labels(region).inc()
