"""Alembic migrations: an empty database and one at the baseline both reach head, and the models
are exactly what the migrations build (autogenerate finds nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.storage.database import Database
from bot.storage.migrate import BASELINE, current, head, upgrade
from bot.storage.models import Base
from tests.conftest import fresh_postgres


@pytest.fixture
def postgres(postgres_schema: str) -> Database:
    db = Database(fresh_postgres())
    yield db  # type: ignore[misc]
    db.dispose()


def _differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def test_an_empty_postgresql_database_upgrades_to_head_and_matches_the_models(postgres: Database) -> None:
    assert current(postgres) is None
    assert upgrade(postgres) == head()
    assert _differences(postgres) == []


def test_a_database_at_the_baseline_keeps_its_rows_on_the_way_to_head(postgres: Database) -> None:
    upgrade(postgres, BASELINE)
    with postgres.engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO conversation (channel, sender_id, language, tracker, created_at, updated_at)"
            " VALUES ('sms', '+628111', 'id', '{}', now(), now())"))
        connection.execute(text(
            "INSERT INTO ticket (conversation_id, emergency_type, status, priority, agencies, location,"
            " cues, attachments, description, language, created_at, updated_at) VALUES (1, 'fire', 'new',"
            " 'high', '[]', '{}', '[]', '[]', 'kebakaran', 'id', now(), now())"))
    assert upgrade(postgres) == head()
    assert _differences(postgres) == []
    with postgres.engine.connect() as connection:
        assert connection.execute(text("SELECT emergency_type FROM ticket")).scalar_one() == "fire"


def test_tables_made_before_migrations_existed_are_stamped_at_the_baseline(postgres: Database) -> None:
    upgrade(postgres, BASELINE)
    with postgres.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))  # as create_all left them
    assert upgrade(postgres) == head()
    assert _differences(postgres) == []


def test_an_empty_sqlite_file_gets_the_whole_schema(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    db.create_schema()
    assert current(db) == head()
    tables = set(inspect(db.engine).get_table_names())
    assert {"conversation", "ticket", "outbox", "incident", "alembic_version"} <= tables
    assert _differences(db) == []
    db.dispose()
