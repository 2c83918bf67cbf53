"""One turn, one transaction: what a turn writes is committed whole or not at all; the tickets it
opens are the desk's (a transaction each), and a report in a failed turn still gets one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import event, func, select, text

from bot.storage.database import Database
from bot.storage.models import Conversation, DispatchItem, Message, Ticket
from tests.conftest import RunningApp, conversation_of, rest_texts

# A refusal of the database itself: (the statements that make it, the statements that undo it).
Refusal = tuple[dict[str, list[str]], dict[str, list[str]]]


def _refusal(name: str, table: str, when: str = "1 = 1") -> Refusal:
    """A trigger refusing the rows of `table` for which `when` holds (SQL both databases read),
    and the statements that drop it again."""
    sqlite = (f"CREATE TRIGGER {name} BEFORE INSERT ON {table} WHEN {when} "
              f"BEGIN SELECT RAISE(ABORT, '{name}'); END")
    postgresql = [f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN IF {when} THEN "
                  f"RAISE EXCEPTION '{name}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
                  f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()"]
    undo = {"sqlite": [f"DROP TRIGGER {name}"],
            "postgresql": [f"DROP TRIGGER {name} ON {table}", f"DROP FUNCTION {name}()"]}
    return {"sqlite": [sqlite], "postgresql": postgresql}, undo


# A fault of the database itself, halfway through a turn: the ticket is written, its notice to
# the agencies is refused.
NOTICES_REFUSED = _refusal("refuse_notice", "dispatch_item")


def _run(db: Database, statements: list[str]) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


APOLOGY = ["Pesan Anda sudah diterima dan akan dibaca operator. Silakan terus menulis."]


def _answer_while(app: RunningApp, refusal: Refusal, sender: str, message: str) -> list[str]:
    """A reporter's message answered while the database refuses what `refusal` says."""
    db = app.services.db
    kind = db.engine.dialect.name
    fault, undo = refusal
    _run(db, fault[kind])
    try:
        return rest_texts(app, sender, message)
    finally:
        _run(db, undo[kind])


def test_a_turn_that_fails_halfway_leaves_no_half_made_ticket(running_app: RunningApp) -> None:
    db = running_app.services.db
    answer = _answer_while(running_app, NOTICES_REFUSED, "+6281200000001",
                           "kebakaran rumah di desa sumberrejo kendal")
    assert answer == APOLOGY
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0  # rolled back with the turn
        inbound = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert inbound.processed_at is not None  # answered, not left for the sweep to retry forever
    conversation = conversation_of(running_app, "+6281200000001")
    assert conversation.needs_person == "turn_failed"  # an operator reads it
    assert "ticket_id" not in {k for k, v in (conversation.tracker.get("slots") or {}).items() if v}

    # The database takes notices again: the reporter's next message is a report like any other.
    rest_texts(running_app, "+6281200000001", "tolong rumah tetangga terbakar, desa sumberrejo kendal")
    with db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert ticket.emergency_type == "fire"
        assert session.scalar(select(func.count()).select_from(DispatchItem)) >= 1


# A fault after the ticket: the reminders of the CPR guidance are refused.
REMINDERS_REFUSED = _refusal("refuse_reminder", "outbox", "NEW.kind = 'reminder'")


def test_a_report_whose_turn_fails_after_the_ticket_still_gets_its_ticket(running_app: RunningApp) -> None:
    """The turn is rolled back whole, then the report's ticket is opened from what the message
    said: a bug or fault in the guidance never costs the reporter their ticket."""
    db = running_app.services.db
    sender = "+6281200000002"
    rest_texts(running_app, sender, "tolong ada orang pingsan di desa sumberrejo kendal")
    answer = _answer_while(running_app, REMINDERS_REFUSED, sender, "dia tidak bernapas")
    assert answer == APOLOGY
    with db.session() as session:
        tickets = list(session.scalars(select(Ticket)))
        assert len(tickets) == 1  # the one the first message opened, kept
        assert session.scalar(select(func.count()).select_from(DispatchItem)) >= 1
    assert conversation_of(running_app, sender).needs_person == "turn_failed"


def _apologised_with_its_ticket(app: RunningApp, refusal: Refusal, sender: str, message: str) -> Ticket:
    """The report, answered while the database refuses what `refusal` says: the apology, the
    conversation flagged, and its one ticket (returned) in the dialogue's slot and published."""
    assert _answer_while(app, refusal, sender, message) == APOLOGY
    with app.services.db.session() as session:
        ticket = session.scalars(select(Ticket)).one()
        assert session.scalar(select(func.count()).select_from(DispatchItem)) >= 1
    conversation = conversation_of(app, sender)
    assert conversation.needs_person == "turn_failed"
    assert conversation.tracker["slots"]["ticket_id"] == ticket.id  # the dialogue goes on about it
    return ticket


def test_a_report_in_a_failed_first_turn_gets_a_ticket(running_app: RunningApp) -> None:
    ticket = _apologised_with_its_ticket(running_app, REMINDERS_REFUSED, "+6281200000003",
                                         "tolong orang tidak bernapas di desa sumberrejo kendal")
    assert ticket.emergency_type == "medical" and "sumberrejo" in (ticket.location_text or "").lower()


# A fault when the turn is saved: every reply but the apology is refused.
REPLIES_REFUSED = _refusal("refuse_reply", "message",
                           "NEW.direction = 'out' AND NEW.text NOT LIKE 'Pesan Anda sudah diterima%'")


def test_a_turn_whose_save_is_refused_is_answered_and_its_report_keeps_its_ticket(
        running_app: RunningApp) -> None:
    # Before, the REST caller got a 500 and the message stayed for the sweep to retry for ever.
    ticket = _apologised_with_its_ticket(running_app, REPLIES_REFUSED, "+6281200000004",
                                         "kebakaran rumah di desa sumberrejo kendal")
    assert ticket.emergency_type == "fire"
    with running_app.services.db.session() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert inbound.processed_at is not None


def test_every_session_of_a_transaction_joins_it_and_is_rolled_back_with_it(database_url: str) -> None:
    db = Database(database_url)
    db.create_schema()
    statements: list[str] = []
    event.listen(db.engine, "begin", lambda _connection: statements.append("begin"))

    def add(sender: str) -> int:
        with db.session() as session:
            row = Conversation(channel="rest", sender_id=sender)
            session.add(row)
            session.flush()
            return row.id

    async def turn(fail: bool) -> None:
        async with db.transaction():
            first = add("a")
            second = await asyncio.to_thread(add, "b")  # another thread, the same transaction
            with db.session() as session:
                assert {c.id for c in session.scalars(select(Conversation))} >= {first, second}
            if fail:
                raise RuntimeError("the turn failed")

    with pytest.raises(RuntimeError):
        asyncio.run(turn(fail=True))
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Conversation)) == 0
    statements.clear()
    asyncio.run(turn(fail=False))
    assert statements == ["begin"]  # one transaction for the three sessions
    with db.session() as session:
        assert sorted(session.scalars(select(Conversation.sender_id))) == ["a", "b"]
    db.dispose()


def test_what_an_own_session_commits_inside_a_transaction_is_read_afresh_by_it(database_url: str) -> None:
    # The desk places a conversation in a region in its own transaction, in the middle of a turn
    # that holds the conversation: the turn reads the new region, and keeps what it changed itself.
    db = Database(database_url)
    db.create_schema()
    with db.session() as session:
        row = Conversation(channel="rest", sender_id=f"afresh-{database_url[:5]}", region="")
        session.add(row)
        session.flush()
        ident = row.id

    def place() -> None:
        with db.own_session() as session:
            session.get_one(Conversation, ident).region = "3324"

    async def turn() -> tuple[str, str]:
        async with db.transaction():
            with db.session() as session:
                conversation = session.get_one(Conversation, ident)
                assert conversation.region == ""
                conversation.language = "en"  # the turn's own change, not flushed yet
            await asyncio.to_thread(place)
            with db.session() as session:
                conversation = session.get_one(Conversation, ident)
                return conversation.region, conversation.language

    assert asyncio.run(turn()) == ("3324", "en")
    with db.session() as session:
        stored = session.get_one(Conversation, ident)
        assert (stored.region, stored.language) == ("3324", "en")
    db.dispose()


# A fault the apology cannot get past either: every reply is refused, the apology too.
EVERY_REPLY_REFUSED = _refusal("refuse_every_reply", "message", "NEW.direction = 'out'")


def test_a_message_not_even_the_apology_can_be_saved_for_is_set_aside_not_retried_for_ever(
        running_app: RunningApp) -> None:
    # Before, it stayed unprocessed: the sweep retried it every few seconds, and every later
    # message of the sender waited behind it, unanswered.
    db = running_app.services.db
    sender = "+6281200000005"
    assert _answer_while(running_app, EVERY_REPLY_REFUSED, sender, "halo ini siapa ya") == []
    with db.session() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert inbound.processed_at is not None  # nothing left for the sweep to retry
    assert conversation_of(running_app, sender).needs_person == "turn_failed"  # an operator reads it

    # The database takes replies again: the sender's next message is answered like any other.
    answer = rest_texts(running_app, sender, "kebakaran rumah di desa sumberrejo kendal")
    assert answer and answer != APOLOGY
    with db.session() as session:
        assert session.scalars(select(Ticket)).one().emergency_type == "fire"


def test_a_dialogue_state_this_version_cannot_read_is_apologised_for_and_started_anew(
        running_app: RunningApp) -> None:
    db = running_app.services.db
    sender = "+6281200000006"
    rest_texts(running_app, sender, "halo")
    with db.session() as session:  # written by some other version, or by hand
        session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one().tracker = {
            "slots": "not slots"}
    assert rest_texts(running_app, sender, "halo lagi") == APOLOGY
    conversation = conversation_of(running_app, sender)
    assert conversation.needs_person == "turn_failed"
    assert isinstance(conversation.tracker["slots"], dict)  # readable again
    answer = rest_texts(running_app, sender, "kebakaran rumah di desa sumberrejo kendal")
    assert answer and answer != APOLOGY


class _FailsOn:
    """The real NLU, raising for one text (a bug in it, or a model that breaks on some input)."""

    def __init__(self, nlu, text_: str) -> None:  # type: ignore[no-untyped-def]
        self.nlu, self.text = nlu, text_

    def parse(self, text_: str, gps=None):  # type: ignore[no-untyped-def]
        if text_ == self.text:
            raise ValueError("the NLU failed")
        return self.nlu.parse(text_, gps)


def test_a_message_the_nlu_fails_on_is_apologised_for_and_does_not_hold_back_the_next(
        running_app: RunningApp) -> None:
    # Before, the failure came before the turn's error handling: the message stayed unprocessed,
    # retried by the sweep for ever, and every later message of its sender waited behind it.
    conversations = running_app.app.state.conversations
    sender = "+6281200000007"
    conversations.nlu = _FailsOn(conversations.nlu, "ada apa ini")
    assert rest_texts(running_app, sender, "ada apa ini") == APOLOGY
    with running_app.services.db.session() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert inbound.processed_at is not None
    assert conversation_of(running_app, sender).needs_person == "turn_failed"  # an operator reads it
    answer = rest_texts(running_app, sender, "kebakaran rumah di desa sumberrejo kendal")
    assert answer and answer != APOLOGY
    with running_app.services.db.session() as session:
        assert session.scalars(select(Ticket)).one().emergency_type == "fire"


def test_a_turns_save_takes_its_conversation_before_its_message_as_the_ingest_does(
        running_app: RunningApp) -> None:
    # The ingest locks the conversation, then counts a repeat on an earlier message of it. A save
    # that marked its message first and then waited for the conversation deadlocked with it: the
    # ingest's webhook got a 503 (found by the schemathesis run on PostgreSQL).
    db = running_app.services.db
    sender = "+6281200000008"
    rest_texts(running_app, sender, "halo ada yang bisa dibantu")
    conversation = conversation_of(running_app, sender)
    with db.session() as session:
        message_id = session.scalars(select(Message.id).where(Message.conversation_id == conversation.id,
                                                              Message.direction == "in")).one()
    ingest_locked, outcome = threading.Event(), {}

    def ingest() -> None:  # the ingest's order of locks, paused in between
        try:
            with db.engine.begin() as connection:
                connection.execute(text("UPDATE conversation SET updated_at = updated_at WHERE id = :c"),
                                   {"c": conversation.id})
                ingest_locked.set()
                time.sleep(0.5)  # the save starts meanwhile
                connection.execute(text("UPDATE message SET repeats = repeats + 1 WHERE id = :m"),
                                   {"m": message_id})
            outcome["ingest"] = "committed"
        except Exception as error:  # a deadlock, as it was
            outcome["ingest"] = repr(error)

    async def save() -> None:
        async with db.transaction():
            await asyncio.to_thread(running_app.app.state.conversations._save, conversation.id,
                                    message_id, None, None)

    racer = threading.Thread(target=ingest)
    racer.start()
    assert ingest_locked.wait(10)
    asyncio.run(save())
    racer.join(30)
    assert outcome == {"ingest": "committed"}
    with db.session() as session:
        assert session.get_one(Message, message_id).repeats == 1
