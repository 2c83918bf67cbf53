"""A conversation's tickets found by an index: every turn asks for its newest open one.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_conversation", "ticket", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ticket_conversation", table_name="ticket")
