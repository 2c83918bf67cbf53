"""Schema changes as Alembic migrations (bot/storage/migrations): `sigap db upgrade`."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from bot.storage.database import Database

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# Several processes start at once (`sigap serve --workers N`, a worker): one migrates, the others
# wait on this PostgreSQL advisory lock and then find the schema at its head.
MIGRATION_LOCK = 112_0001


def config(connection: Connection) -> Config:
    """Alembic's configuration, on an open connection (no alembic.ini: the settings hold the URL)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def current(db: Database) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Migrate to `revision`. A database whose tables `sigap serve` created before migrations
    existed is stamped at the baseline first. Returns the revision reached."""
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg = config(connection)
        tables = set(inspect(connection).get_table_names())
        if "conversation" in tables and "alembic_version" not in tables:
            log.warning("database created before migrations: stamped at the baseline %s", BASELINE)
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)
    return current(db)
