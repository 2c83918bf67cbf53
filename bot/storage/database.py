"""Database engine and sessions (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
import copy
import threading
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

# The session of the transaction a task is in (`Database.transaction`): every `session()` of the
# same database in that task, and in the threads it hands work to, joins it.
_joined: ContextVar[tuple[Database, Session] | None] = ContextVar("joined_session", default=None)


class Database:
    """An engine, its session factory and the schema."""

    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        self.url = url
        # No ping before each checkout (it costs a round trip on every session, ten a turn): a
        # connection the server dropped fails once, SQLAlchemy then drops the whole pool, and
        # that one request is answered 503 or its turn retried by the sweep.
        pool = {"pool_size": 10, "max_overflow": 10} if url.startswith("postgresql") else {}
        self.engine: Engine = create_engine(url, pool_pre_ping=False, **pool)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The same pool, each connection in autocommit while it is lent (`autocommit`).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._named: dict[str, threading.Lock] = {}

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (Alembic; see bot/storage/migrate.py)."""
        from bot.storage.migrate import upgrade

        upgrade(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error; inside `transaction`, that
        transaction's session (committed or rolled back by it)."""
        joined = _joined.get()
        if joined is not None and joined[0] is self:
            yield joined[1]
            return
        with self.own_session() as session:
            yield session

    @contextmanager
    def own_session(self) -> Iterator[Session]:
        """A session of its own, committed at its end even inside `transaction`: for rows many
        conversations share (tickets, incidents), whose locks no turn may hold for its length."""
        joined = _joined.get()
        with self.sessions() as session:
            changed: Changes = []
            if joined is not None and joined[0] is self:
                event.listen(session, "after_flush", lambda s, _context: changed.extend(_changes(s)))
            with session.begin():
                yield session
        if changed and joined is not None:
            # What this session committed, the enclosing transaction holds as committed (a
            # conversation the desk placed in a region), and nothing else of what it holds.
            _take(joined[1], changed)

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits itself: for a write of one statement that
        stands alone (an outbox row marked sent), no BEGIN and COMMIT around it (two round trips
        of three). Never inside the task's transaction: it would not be part of it."""
        with self._autocommit.connect() as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session to read rows the task's transaction never changes (the desk's tickets).
        Inside a transaction on PostgreSQL, that transaction's session: each statement sees what is
        committed (READ COMMITTED), and no BEGIN and COMMIT of its own (two round trips, each a wait
        for the GIL in a busy process). Nothing pending is flushed first (its locks stay untaken);
        read with `populate_existing`, a row read before is refreshed. Elsewhere (SQLite keeps a
        transaction's first snapshot) a session of its own."""
        joined = _joined.get()
        if joined is None or joined[0] is not self or self.engine.dialect.name != "postgresql":
            with self.own_session() as session:
                yield session
            return
        with joined[1].no_autoflush:
            yield joined[1]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """One transaction for everything a task does, whichever threads do it (one dialogue turn:
        its load, its actions' writes and its save; the desk's `own_session`s stay apart);
        committed at the end, rolled back on error.
        The work inside must be sequential: a session is not for two threads at once."""
        session = self.sessions()
        # The identity map holds rows weakly: a row one step of the turn loaded and let go would be
        # loaded again by the next. Held here until the end, each row is read once a turn.
        held: list[object] = []
        event.listen(session, "loaded_as_persistent", lambda _s, row: held.append(row))
        event.listen(session, "pending_to_persistent", lambda _s, row: held.append(row))
        token = _joined.set((self, session))
        try:
            yield session
            if session.in_transaction():
                await asyncio.to_thread(_commit, session)
            else:  # its last step committed it (`commit_now`): no hand-over for the commit alone
                session.close()
        except BaseException:
            await asyncio.to_thread(session.close)  # rolls back
            raise
        finally:
            _joined.reset(token)

    def commit_now(self) -> None:
        """Commit the task's transaction in this thread, as its last step (a turn's save): one
        hand-over to a thread less. A failure is the step's, inside its error handling."""
        joined = _joined.get()
        assert joined is not None and joined[0] is self, "commit_now outside a transaction"
        joined[1].commit()

    def turn_memo(self) -> dict[Any, Any] | None:
        """What the task's transaction has read of rows kept apart from it (the desk's views of
        tickets), for the length of that transaction: a turn's actions ask for their ticket
        several times. None outside a transaction."""
        joined = _joined.get()
        if joined is None or joined[0] is not self:
            return None
        memo: dict[Any, Any] = joined[1].info.setdefault("memo", {})
        return memo

    def hold(self, session: Session, name: str) -> None:
        """Hold the lock `name` until the session's transaction ends: one holder at a time in every
        process (PostgreSQL's advisory lock), or in this one (SQLite, which serves one process).
        Take it before the transaction writes: a writer that waits for it must hold nothing that its
        holder may need."""
        if self.engine.dialect.name == "postgresql":
            key = zlib.crc32(f"sigap:{name}".encode())
            with session.no_autoflush:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            return
        lock = self._named.setdefault(name, threading.Lock())
        lock.acquire()
        held = [True]

        def release(_session: Session, transaction: Any) -> None:
            if transaction.parent is None and held:  # the transaction's end, not a savepoint's
                held.clear()
                lock.release()

        event.listen(session, "after_transaction_end", release)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


# Of each row a flush updated: its identity, the row, its changed columns and its other changed
# attributes (relationships).
Changes = list[tuple[object, object, list[str], list[str]]]


def _changes(session: Session) -> Changes:
    out: Changes = []
    for row in session.dirty:
        state = inspect(row)
        if state.identity_key is None:
            continue
        changed = [attr.key for attr in state.attrs if attr.history.has_changes()]
        columns = [name for name in changed if name in state.mapper.column_attrs]
        others = [name for name in changed if name not in columns]
        if changed:
            out.append((state.identity_key, row, columns, others))
    return out


def _take(session: Session, changed: Changes) -> None:
    """What another session committed (its rows keep their values after the commit), made the
    committed state of the rows this one holds, copied (no read again); its other changes are
    expired, read when next asked for."""
    for key, committed, columns, others in changed:
        row = session.identity_map.get(key)  # type: ignore[arg-type]
        if row is None:
            continue
        for name in columns:
            set_committed_value(row, name, copy.deepcopy(getattr(committed, name)))
        if others:
            session.expire(row, others)


def _commit(session: Session) -> None:
    with session:
        session.commit()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the console read while the bot writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
