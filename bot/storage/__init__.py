"""SQLAlchemy models, the database, Alembic migrations."""
