"""A turn's transaction and the sessions of its own the desk opens inside it, on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select, update

from bot.storage.database import Database
from bot.storage.models import Conversation


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.create_schema()
    yield database
    database.dispose()


def _stored(db: Database, **fields: object) -> int:
    """A conversation committed before the turn; its id."""
    with db.session() as session:
        row = Conversation(channel="rest", **fields)
        session.add(row)
        session.flush()
        return row.id


def test_what_an_own_session_commits_the_turn_holds_without_reading_it_again(db: Database) -> None:
    conversation_id = _stored(db, sender_id="s1", tracker={"slots": {}})
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))

    async def turn() -> tuple[str | None, dict[str, object], int]:
        async with db.transaction() as session:
            held = session.get(Conversation, conversation_id)
            assert held is not None
            with db.own_session() as own:
                other = own.get(Conversation, conversation_id)
                assert other is not None
                other.region = "33.24"
                other.tracker = {"slots": {"place": "kendal"}}
            before = len(statements)
            region, tracker = held.region, held.tracker
            other.tracker["slots"]["place"] = "changed after"  # the turn holds its own copy
            return region, tracker, len(statements) - before

    region, tracker, reads = asyncio.run(turn())
    assert (region, tracker, reads) == ("33.24", {"slots": {"place": "kendal"}}, 0)
    with db.session() as session:
        stored = session.scalars(select(Conversation).where(Conversation.id == conversation_id)).one()
        assert (stored.region, stored.tracker) == ("33.24", {"slots": {"place": "kendal"}})


def test_an_own_session_that_fails_leaves_the_turn_as_it_was(db: Database) -> None:
    conversation_id = _stored(db, sender_id="s2", region="33.74")

    async def turn() -> str | None:
        async with db.transaction() as session:
            held = session.get(Conversation, conversation_id)
            assert held is not None
            with pytest.raises(RuntimeError), db.own_session() as own:
                other = own.get(Conversation, conversation_id)
                assert other is not None
                other.region = "33.24"
                own.flush()
                raise RuntimeError("the desk failed")
            return held.region

    assert asyncio.run(turn()) == "33.74"
    with db.session() as session:
        assert session.get(Conversation, conversation_id).region == "33.74"  # type: ignore[union-attr]


def test_a_read_inside_a_turn_sees_what_others_committed_since_and_flushes_nothing(db: Database) -> None:
    conversation_id = _stored(db, sender_id="s3", region="33.24")
    begins: list[object] = []
    statements: list[str] = []
    event.listen(db.engine, "begin", begins.append)
    event.listen(db.engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))
    fresh = select(Conversation).where(Conversation.id == conversation_id).execution_options(
        populate_existing=True)

    async def turn() -> tuple[str | None, str | None, int, list[str]]:
        async with db.transaction() as session:
            first = session.scalars(fresh).one()
            first.language = "en"  # pending in the turn: a read must not flush it
            first_region = first.region
            with db.own_session() as other:  # an operator moves the conversation meanwhile
                other.get_one(Conversation, conversation_id).region = "33.74"
            began, sent = len(begins), len(statements)
            with db.reading() as reader:
                again = reader.scalars(fresh).one().region
            return first_region, again, len(begins) - began, statements[sent:]

    first_region, again, own_transactions, sent = asyncio.run(turn())
    assert (first_region, again) == ("33.24", "33.74")
    assert [sql.split()[0] for sql in sent] == ["SELECT"]
    # On PostgreSQL the turn's own transaction reads (no BEGIN and COMMIT of its own); SQLite
    # keeps a transaction's first snapshot, so there the read has a session of its own.
    assert own_transactions == (0 if db.engine.dialect.name == "postgresql" else 1)


def test_a_statement_on_an_autocommit_connection_is_committed_as_it_runs(db: Database) -> None:
    conversation_id = _stored(db, sender_id="s4", region="33.24")
    moved = update(Conversation).where(Conversation.id == conversation_id).values(region="33.74")
    db.engine.dispose()  # the pool holds one connection after this: the one lent below
    other = Database(db.url)  # another process
    with db.autocommit() as connection:
        connection.execute(moved)
        with other.session() as session:  # sees it before the connection is given back
            seen = session.get_one(Conversation, conversation_id).region
    other.dispose()
    assert seen == "33.74"
    # The connection goes back to the pool as it was: the next session's changes are a transaction.
    with pytest.raises(RuntimeError), db.session() as session:
        session.get_one(Conversation, conversation_id).region = "33.00"
        session.flush()
        raise RuntimeError("the turn failed")
    with db.session() as session:
        assert session.get_one(Conversation, conversation_id).region == "33.74"
