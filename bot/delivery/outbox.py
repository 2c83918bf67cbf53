"""The outbox: every message to a reporter on a push channel is sent from here, with retries.

A reply is written to the outbox in the same transaction that records the turn, so a crash
or a provider outage never loses it. One conversation's messages leave in order: while its
oldest pending message waits for a retry, the younger ones wait too.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import bindparam, select, update

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


# The pending messages of the channels served here, oldest first, each locked as it is read; and
# the claim of those due (built once: every pass runs them).
_PENDING = (select(OutboxMessage.id, OutboxMessage.conversation_id, OutboxMessage.channel, OutboxMessage.text,
                   OutboxMessage.payload, OutboxMessage.attempts, OutboxMessage.claimed_until,
                   OutboxMessage.next_attempt_at, Conversation.sender_id)
            .join(Conversation, Conversation.id == OutboxMessage.conversation_id)
            .where(OutboxMessage.status == "pending")
            .where(OutboxMessage.channel.in_(bindparam("channels", expanding=True)))
            .order_by(OutboxMessage.id).limit(500)
            .with_for_update(of=OutboxMessage, skip_locked=True))
_CLAIM = (update(OutboxMessage).where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
          .values(claimed_until=bindparam("until")))
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
            await asyncio.to_thread(self._sent, due.id, provider_id)
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
        """Claim the due messages of this pass (several processes may share the outbox): the
        pending rows locked as they are read (another process skips them), those due marked
        claimed in one statement."""
        now = utcnow()
        with self.db.session() as session:
            connection = session.connection()  # plain rows and one UPDATE: no unit of work
            rows = connection.execute(_PENDING, {"channels": list(self.senders)}).all()
            due, blocked = [], set()
            for row in rows:
                if row.conversation_id in blocked:
                    continue
                if row.claimed_until and aware(row.claimed_until) > now:
                    blocked.add(row.conversation_id)  # in flight elsewhere: keep the order
                    continue
                if aware(row.next_attempt_at) > now:
                    # A message waiting for its retry holds back the younger ones (order);
                    # a reminder scheduled for later does not.
                    if row.attempts:
                        blocked.add(row.conversation_id)
                    continue
                message = OutboundMessage.of({"text": row.text, **row.payload})
                due.append(_Due(row.id, row.conversation_id, row.channel, row.sender_id, message,
                                row.attempts))
            if due:
                connection.execute(_CLAIM, {"ids": [d.id for d in due],
                                            "until": now + timedelta(seconds=CLAIM_SECONDS)})
            return due

    def _sent(self, outbox_id: int, provider_id: str | None) -> None:
        # One statement, committed as it runs: recorded the moment the provider took it.
        with self.db.autocommit() as connection:
            connection.execute(_SENT, {"outbox": outbox_id, "now": utcnow(), "provider": provider_id})

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

