"""The outbox: every message to a reporter on a push channel is sent from here, with retries.

A reply is written to the outbox in the same transaction that records the turn, so a crash
or a provider outage never loses it. One conversation's messages leave in order: while its
oldest pending message waits for a retry, the younger ones wait too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import BindParameter

from bot.messages import OutboundMessage
from bot.metrics import OUTBOX_FAILED, OUTBOX_SENT, SEND_ERRORS
from bot.storage.database import Database
from bot.storage.models import Conversation, OutboxMessage, aware, utcnow

log = logging.getLogger(__name__)

# A provider that is down (an SMS gateway phone switched off, an SMPP link lost) can stay down
# for hours: a retryable failure is tried again, at most a minute apart, until the message is
# this old; then it is marked failed for operators. A permanent error fails at once.
RETRY_WINDOW = timedelta(hours=24)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
# Longer than any provider call takes (their clients time out sooner).
CLAIM_SECONDS = 120.0


# How far along a message is, by the words providers use (Twilio, the Android gateway, SMPP
# receipts). Callbacks can arrive out of order: a late "sent" never overwrites "delivered".
DELIVERY_PROGRESS = {
    "accepted": 0, "queued": 0, "sending": 1, "enroute": 1, "sent": 2,
    "delivered": 3, "undelivered": 3, "failed": 3, "expired": 3, "deleted": 3, "rejected": 3,
    "read": 4,
}


# The claim of a pass, one statement committed as it runs (several processes may share the
# outbox): the due messages of the channels served here, oldest first, each marked claimed with
# its recipient returned. A message is due at its time unless it is claimed (in flight) or an
# older one of its conversation is claimed or waits for a retry (order); a reminder scheduled for
# later holds nothing back. Rows another process is claiming are skipped (SKIP LOCKED).
_CANDIDATE, _OLDER, _RECIPIENT = aliased(OutboxMessage), aliased(OutboxMessage), aliased(Conversation)
_NOW: BindParameter[datetime] = bindparam("now")
_HELD_BACK = (select(_OLDER.id)
              .where(_OLDER.conversation_id == _CANDIDATE.conversation_id, _OLDER.id < _CANDIDATE.id,
                     _OLDER.status == "pending")
              .where(or_(_OLDER.claimed_until > _NOW,
                         and_(_OLDER.attempts > 0, _OLDER.next_attempt_at > _NOW)))
              .exists())
_DUE_IDS = (select(_CANDIDATE.id)
            .where(_CANDIDATE.status == "pending",
                   _CANDIDATE.channel.in_(bindparam("channels", expanding=True)))
            .where(_CANDIDATE.next_attempt_at <= _NOW,
                   or_(_CANDIDATE.claimed_until.is_(None), _CANDIDATE.claimed_until <= _NOW), ~_HELD_BACK)
            .order_by(_CANDIDATE.id).limit(500)
            .with_for_update(of=_CANDIDATE, skip_locked=True))
# SQLite names no table in RETURNING, not even inside this subquery: `id` is then the recipient's
# (the innermost table that has one) and `conversation_id` the outbox row's (only it has one).
_CLAIM = (update(OutboxMessage).where(OutboxMessage.id.in_(_DUE_IDS.scalar_subquery()))
          .values(claimed_until=bindparam("until"))
          .returning(OutboxMessage.id, OutboxMessage.conversation_id, OutboxMessage.channel,
                     OutboxMessage.text, OutboxMessage.payload, OutboxMessage.attempts,
                     select(_RECIPIENT.sender_id).where(_RECIPIENT.id == OutboxMessage.conversation_id)
                     .scalar_subquery().label("recipient")))
_SENT = (update(OutboxMessage).where(OutboxMessage.id == bindparam("outbox"))
         .values(status="sent", sent_at=bindparam("now"), claimed_until=None,
                 attempts=OutboxMessage.attempts + 1, provider_message_id=bindparam("provider")))


class DeliveryError(Exception):
    """A send failed; `retryable` says whether trying again can help."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ChannelSender(Protocol):
    """What a push channel offers the outbox."""

    channel: str

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """Send one message; return the provider's message id. Raise DeliveryError."""


@dataclass(frozen=True)
class _Due:
    id: int
    conversation_id: int
    channel: str
    recipient: str
    message: OutboundMessage
    attempts: int


@dataclass
class _Marks:
    """Sends recorded together in one statement; `done` when it is committed."""

    sent: list[tuple[int, str | None]]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Outbox:
    """Sends due outbox rows through their channel and records the outcome."""

    def __init__(
        self, db: Database, senders: dict[str, ChannelSender],
        first_retry_seconds: float = FIRST_RETRY_SECONDS,
    ) -> None:
        self.db = db
        self.senders = senders
        self.first_retry_seconds = first_retry_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._writing = asyncio.Lock()  # one statement of sent marks at a time
        self._gathering: _Marks | None = None  # the marks waiting for the next one

    @property
    def push_channels(self) -> frozenset[str]:
        """Channels whose replies go through the outbox."""
        return frozenset(self.senders)

    def kick(self) -> None:
        """Deliver now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Let `run` end after the pass under way (a send is never cut off half-recorded)."""
        self._stopping = True
        self._wake.set()

    async def run(self, poll_seconds: float = 1.0) -> None:
        """Deliver until `stop()` (or cancelled)."""
        while not self._stopping:
            try:
                await self.deliver_due()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox pass failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), poll_seconds)
            except TimeoutError:
                pass

    async def deliver_due(self) -> int:
        """One pass over due messages; returns how many were sent."""
        queues: dict[int, list[_Due]] = {}
        for due in await asyncio.to_thread(self._due):
            queues.setdefault(due.conversation_id, []).append(due)
        counts = await asyncio.gather(*[self._deliver_in_order(q) for q in queues.values()])
        return sum(counts)

    async def _deliver_in_order(self, queue: list[_Due]) -> int:
        """Send a conversation's messages oldest first; stop at the first failure."""
        sent = 0
        for due in queue:
            sender = self.senders[due.channel]
            try:
                provider_id = await sender.send(due.recipient, due.message)
            except DeliveryError as error:
                await asyncio.to_thread(self._failed, due.id, str(error), error.retryable)
                later = [d.id for d in queue[queue.index(due) + 1:]]
                await asyncio.to_thread(self._release, later)
                return sent
            await self._mark_sent(due.id, provider_id)
            OUTBOX_SENT.labels(due.channel).inc()
            sent += 1
            if due.attempts:  # the provider took a message it had refused: others may go now
                await asyncio.to_thread(self.retry_now, due.channel)
        return sent

    def retry_now(self, channel: str) -> int:
        """The channel's provider is back: messages waiting for a retry are due now, not at their
        backoff (reminders scheduled for later keep their time)."""
        now = utcnow()
        with self.db.session() as session:
            result = session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == "pending", OutboxMessage.channel == channel)
                .where(OutboxMessage.attempts > 0, OutboxMessage.next_attempt_at > now)
                .values(next_attempt_at=now)
            )
        self.kick()
        return int(getattr(result, "rowcount", 0) or 0)

    def record_delivery(self, provider_message_id: str, status: str) -> bool:
        """Record a provider's delivery report; False when the id is not ours."""
        with self.db.session() as session:
            row = session.scalars(
                select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
            ).first()
            if row is None:
                return False
            known, current = DELIVERY_PROGRESS.get(status), DELIVERY_PROGRESS.get(row.delivery_status or "")
            if known is None or current is None or known >= current:
                row.delivery_status = status[:32]
            return True

    def _due(self) -> list[_Due]:
        """Claim the due messages of this pass (`_CLAIM`), oldest first."""
        now = utcnow()
        with self.db.autocommit() as connection:
            rows = connection.execute(_CLAIM, {"channels": list(self.senders), "now": now,
                                               "until": now + timedelta(seconds=CLAIM_SECONDS)}).all()
        return [_Due(row.id, row.conversation_id, row.channel, row.recipient,
                     OutboundMessage.of({"text": row.text, **row.payload}), row.attempts)
                for row in sorted(rows, key=lambda row: row.id)]  # RETURNING keeps no order

    async def _mark_sent(self, outbox_id: int, provider_id: str | None) -> None:
        """Record a send the moment the provider took it. Sends that end while another's mark is
        being written wait for that statement, then are marked together in the next (group commit):
        alone, a mark is written at once; under load, one statement marks many."""
        marks = self._gathering
        if marks is not None:
            marks.sent.append((outbox_id, provider_id))
            await asyncio.shield(marks.done)
            return
        marks = self._gathering = _Marks([(outbox_id, provider_id)])
        try:
            async with self._writing:  # the statement in flight, if any
                self._gathering = None  # from here, marks gather for the next statement
                await asyncio.to_thread(self._sent, marks.sent)
        except Exception as error:
            if len(marks.sent) > 1:  # the others' marks were in the statement too: they fail with it
                marks.done.set_exception(error)
            raise
        except BaseException:  # cancelled: so are the marks that waited for this statement
            marks.done.cancel()
            raise
        marks.done.set_result(None)

    def _sent(self, marks: list[tuple[int, str | None]]) -> None:
        # One statement (an executemany: one round trip), committed as it runs.
        now = utcnow()
        with self.db.autocommit() as connection:
            connection.execute(_SENT, [{"outbox": outbox_id, "now": now, "provider": provider_id}
                                       for outbox_id, provider_id in marks])

    def _release(self, outbox_ids: list[int]) -> None:
        """Give back claimed messages that were not tried (an older one failed)."""
        if outbox_ids:
            with self.db.session() as session:
                session.execute(
                    update(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids)).values(claimed_until=None)
                )

    def _failed(self, outbox_id: int, error: str, retryable: bool) -> None:
        with self.db.session() as session:
            row = session.get_one(OutboxMessage, outbox_id)
            row.attempts += 1
            row.claimed_until = None
            row.last_error = error[:1000]
            SEND_ERRORS.labels(row.channel).inc()
            if retryable and utcnow() - aware(row.created_at) < RETRY_WINDOW:
                delay = min(self.first_retry_seconds * 2 ** (row.attempts - 1), MAX_RETRY_SECONDS)
                row.next_attempt_at = utcnow() + timedelta(seconds=delay)
                log.warning("outbox %s: attempt %s failed, retry in %.0f s", row.id, row.attempts, delay)
                return
            row.status = "failed"
            conversation = session.get_one(Conversation, row.conversation_id)
            if conversation.needs_person != "request_human":  # the console marks it
                conversation.needs_person = "send_failed"
            OUTBOX_FAILED.labels(row.channel).inc()
            # Operators see failed messages as status "failed" rows and in /metrics.
            log.error("outbox %s: gave up after %s attempts: %s", row.id, row.attempts, error)

