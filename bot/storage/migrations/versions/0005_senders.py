"""Pranks and abuse: a sender's recent pranks and the supervisor's abusive mark.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as conversation:
        conversation.add_column(sa.Column("pranks", sa.JSON(), nullable=False, server_default="[]"))
        conversation.add_column(sa.Column("abusive_since", sa.DateTime(timezone=True), nullable=True))
        conversation.add_column(sa.Column("abusive_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation") as conversation:
        for column in ("abusive_by", "abusive_since", "pranks"):
            conversation.drop_column(column)
