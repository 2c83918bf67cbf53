"""Alembic's environment for Sigap: the connection comes from bot/storage/migrate.py."""

from __future__ import annotations

from alembic import context

from bot.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters by copying
with context.begin_transaction():
    context.run_migrations()
