"""The outbox: ordered delivery, retries with backoff, failures visible, reminders on time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from bot.delivery import reminders
from bot.delivery.outbox import RETRY_WINDOW, DeliveryError, Outbox
from bot.messages import OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Conversation, OutboxMessage, utcnow


class Provider:
    """A provider that fails the first `failures` sends (a 5xx, a timeout)."""

    channel = "sms"

    def __init__(self, failures: int = 0, retryable: bool = True) -> None:
        self.failures = failures
        self.retryable = retryable
        self.received: list[tuple[str, str]] = []

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("provider answered 503", self.retryable)
        self.received.append((recipient, message.text))
        return f"SM{len(self.received)}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """An empty database of each kind: the claim is one statement that each must run alike."""
    database = Database(database_url)
    database.create_schema()
    yield database
    database.engine.dispose()


def _queue(db: Database, texts: list[str], sender: str = "+6281234") -> int:
    with db.session() as session:
        conversation = Conversation(channel="sms", sender_id=sender)
        session.add(conversation)
        session.flush()
        for text in texts:
            session.add(OutboxMessage(conversation_id=conversation.id, channel="sms", text=text))
        return conversation.id


def _rows(db: Database) -> list[OutboxMessage]:
    with db.session() as session:
        return list(session.query(OutboxMessage).order_by(OutboxMessage.id))


def _due_now(db: Database) -> None:
    with db.session() as session:
        for row in session.query(OutboxMessage):
            row.next_attempt_at = utcnow() - timedelta(seconds=1)


async def test_messages_of_a_conversation_leave_in_order(db: Database) -> None:
    provider = Provider()
    _queue(db, ["satu", "dua", "tiga"])
    assert await Outbox(db, {"sms": provider}).deliver_due() == 3
    assert [text for _, text in provider.received] == ["satu", "dua", "tiga"]
    assert {row.status for row in _rows(db)} == {"sent"}


async def test_a_failed_send_is_retried_and_delivered_once_holding_back_younger_ones(
    db: Database,
) -> None:
    provider = Provider(failures=2)
    _queue(db, ["first", "second"])
    outbox = Outbox(db, {"sms": provider})
    assert await outbox.deliver_due() == 0
    first = _rows(db)[0]
    assert first.attempts == 1 and first.status == "pending" and first.last_error
    assert await outbox.deliver_due() == 0  # not due yet: waits for its backoff
    for _ in range(2):
        _due_now(db)
        await outbox.deliver_due()
    assert [text for _, text in provider.received] == ["first", "second"]
    assert [(r.status, r.attempts) for r in _rows(db)] == [("sent", 3), ("sent", 1)]


async def test_a_provider_down_for_long_is_retried_until_the_window_ends_then_failed(
    db: Database,
) -> None:
    provider = Provider(failures=100)
    _queue(db, ["tolong"])
    outbox = Outbox(db, {"sms": provider})
    for _ in range(30):  # a phone off for an afternoon: still waiting, never given up
        _due_now(db)
        await outbox.deliver_due()
    [row] = _rows(db)
    assert (row.status, row.attempts) == ("pending", 30)
    assert row.next_attempt_at.replace(tzinfo=UTC) - utcnow() <= timedelta(seconds=61)  # capped backoff
    with db.session() as session:
        session.get_one(OutboxMessage, row.id).created_at = utcnow() - RETRY_WINDOW
    _due_now(db)
    await outbox.deliver_due()
    [row] = _rows(db)
    assert row.status == "failed" and row.attempts == 31
    assert provider.received == []


async def test_a_permanent_error_fails_at_once_and_marks_the_conversation_for_an_operator(
    db: Database,
) -> None:
    conversation = _queue(db, ["x"])
    await Outbox(db, {"sms": Provider(failures=1, retryable=False)}).deliver_due()
    assert _rows(db)[0].status == "failed"
    with db.session() as session:
        assert session.get_one(Conversation, conversation).needs_person == "send_failed"


async def test_a_reminder_waits_for_its_time_without_holding_back_replies(db: Database) -> None:
    provider = Provider()
    conversation = _queue(db, [])
    reminders.schedule(db, conversation, [(60, "Terus tekan dada")], "cpr")
    _queue_more(db, conversation, "Bantuan sedang datang")
    outbox = Outbox(db, {"sms": provider})
    await outbox.deliver_due()
    assert [t for _, t in provider.received] == ["Bantuan sedang datang"]
    _due_now(db)
    await outbox.deliver_due()
    assert [t for _, t in provider.received][-1] == "Terus tekan dada"


async def test_cancelled_reminders_are_never_sent(db: Database) -> None:
    provider = Provider()
    conversation = _queue(db, [])
    reminders.schedule(db, conversation, [(0, "a"), (60, "b")], "cpr")
    assert reminders.cancel(db, conversation) == 2
    _due_now(db)
    assert await Outbox(db, {"sms": provider}).deliver_due() == 0


def _queue_more(db: Database, conversation_id: int, text: str) -> None:
    with db.session() as session:
        session.add(OutboxMessage(conversation_id=conversation_id, channel="sms", text=text))


async def test_a_delivery_report_is_recorded_on_its_message(db: Database) -> None:
    _queue(db, ["x"])
    outbox = Outbox(db, {"sms": Provider()})
    await outbox.deliver_due()
    assert outbox.record_delivery("SM1", "delivered")
    assert not outbox.record_delivery("SM-unknown", "delivered")
    assert _rows(db)[0].delivery_status == "delivered"


async def test_two_processes_sharing_the_outbox_send_each_message_once(db: Database) -> None:
    provider = Provider()
    _queue(db, ["satu", "dua"])
    first, second = Outbox(db, {"sms": provider}), Outbox(db, {"sms": provider})
    claimed = first._due()  # the first process has claimed them and is sending
    assert [d.message.text for d in claimed] == ["satu", "dua"]
    assert await second.deliver_due() == 0  # the second one leaves them alone
    assert provider.received == []


async def test_a_late_callback_never_steps_the_delivery_status_back(db: Database) -> None:
    _queue(db, ["Bantuan sedang datang"])
    await Outbox(db, {"sms": Provider()}).deliver_due()
    [row] = _rows(db)
    outbox = Outbox(db, {})
    assert row.provider_message_id
    for status in ("sent", "delivered", "sent", "queued"):
        assert outbox.record_delivery(row.provider_message_id, status)
    assert _rows(db)[0].delivery_status == "delivered"
    outbox.record_delivery(row.provider_message_id, "read")
    assert _rows(db)[0].delivery_status == "read"
    assert not outbox.record_delivery("not-ours", "delivered")


async def test_a_provider_back_sends_what_waited_at_once_but_reminders_keep_their_time(
    db: Database,
) -> None:
    provider = Provider(failures=2)
    first = _queue(db, ["tolong"], sender="+6281111")
    _queue(db, ["kebakaran"], sender="+6282222")
    reminders.schedule(db, first, [(600, "Terus tekan dada")], "cpr")
    outbox = Outbox(db, {"sms": provider}, first_retry_seconds=3600)
    await outbox.deliver_due()  # the provider is down: both replies wait an hour for a retry
    assert [(r.status, r.attempts) for r in _rows(db)] == [("pending", 1), ("pending", 1), ("pending", 0)]
    with db.session() as session:  # the first one's retry comes round
        session.get_one(OutboxMessage, 1).next_attempt_at = utcnow() - timedelta(seconds=1)
    await outbox.deliver_due()
    assert [text for _, text in provider.received] == ["tolong"]
    # Its success says the provider is back: the other reply is due now, not in an hour, and
    # goes with the pass the outbox wakes for; the reminder stays ten minutes ahead.
    await outbox.deliver_due()
    assert [text for _, text in provider.received] == ["tolong", "kebakaran"]
    reminder = _rows(db)[2]
    assert (reminder.kind, reminder.status, reminder.attempts) == ("reminder", "pending", 0)
    assert reminder.next_attempt_at.replace(tzinfo=UTC) - utcnow() > timedelta(seconds=500)


class GatedProvider(Provider):
    """A provider whose answers all come back at the same moment (a burst of replies)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        await self.gate.wait()
        return await super().send(recipient, message)


def _sent_marks(db: Database, fail_together: bool = False) -> list[bool]:
    """Records the statements that mark messages sent, whether each marks several at once (an
    executemany); with `fail_together`, the database refuses those that do."""
    statements: list[bool] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def record(conn: object, cursor: object, statement: str, parameters: object, context: object,
               executemany: bool) -> None:
        if statement.startswith("UPDATE outbox") and "sent_at=" in statement:
            statements.append(executemany)
            if executemany and fail_together:
                raise OperationalError(statement, {}, Exception("server closed the connection"))

    return statements


async def _burst(db: Database, outbox: Outbox, provider: GatedProvider, replies: int) -> int:
    """A pass over `replies` conversations whose sends all end at the same moment."""
    for n in range(replies):
        _queue(db, [f"balasan {n}"], sender=f"+62811{n}")
    passing = asyncio.create_task(outbox.deliver_due())
    await asyncio.sleep(0.2)  # every send is in flight
    provider.gate.set()
    return await passing


async def test_sends_that_end_together_are_marked_in_few_statements_each_with_its_provider_id(
    db: Database,
) -> None:
    provider = GatedProvider()
    marks = _sent_marks(db)
    assert await _burst(db, Outbox(db, {"sms": provider}), provider, 6) == 6
    # The first mark is written alone at once; the five that ended while it was written go together.
    assert marks == [False, True]
    by_text = {text: f"SM{n + 1}" for n, (_, text) in enumerate(provider.received)}
    assert {(row.text, row.status, row.provider_message_id, row.attempts) for row in _rows(db)} == {
        (text, "sent", provider_id, 1) for text, provider_id in by_text.items()}


async def test_a_mark_that_cannot_be_written_fails_the_pass_and_leaves_its_messages_to_be_sent(
    db: Database,
) -> None:
    provider = GatedProvider()
    _sent_marks(db, fail_together=True)
    with pytest.raises(OperationalError):
        await _burst(db, Outbox(db, {"sms": provider}), provider, 3)
    # The lone first mark was written; the two of the failed statement stay pending (claimed,
    # so sent again when the claim runs out, never lost).
    assert sorted(row.status for row in _rows(db)) == ["pending", "pending", "sent"]
