"""Database engine and sessions (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


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

    def create_schema(self) -> None:
        """Bring the schema to the newest migration (Alembic; see bot/storage/migrate.py)."""
        from bot.storage.migrate import upgrade

        upgrade(self)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # WAL lets the console read while the bot writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
