"""Busy incidents: when each was last published, and the change a notice still owes.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incident") as incident:
        incident.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        incident.add_column(sa.Column("publish_owed", sa.String(length=20), nullable=True))
    op.create_index("ix_incident_owed", "incident", ["publish_owed"])


def downgrade() -> None:
    op.drop_index("ix_incident_owed", table_name="incident")
    with op.batch_alter_table("incident") as incident:
        incident.drop_column("publish_owed")
        incident.drop_column("published_at")
