"""Never dismiss a real emergency: a ticket's further types, a conversation's mark for a person.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as ticket:
        ticket.add_column(sa.Column("other_types", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("conversation") as conversation:
        conversation.add_column(sa.Column("needs_person", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation") as conversation:
        conversation.drop_column("needs_person")
    with op.batch_alter_table("ticket") as ticket:
        ticket.drop_column("other_types")
