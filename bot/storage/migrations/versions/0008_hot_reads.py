"""Indexes for the reads that run all the time, each of which scanned its whole table: a
conversation's newest open ticket (most turns), the incidents a new report may belong to (every
report and every new place), the notices the relay has not copied to Redis yet (every pass), the
messages no turn finished (the sweep, every few seconds in each process), the console board's
conversations (every refresh) and the replies to a message (every provider's retry).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UNRELAYED = sa.text("relayed_at IS NULL")
UNPROCESSED = sa.text("direction = 'in' AND processed_at IS NULL")
HELD = sa.text("held_by_operator IS NOT NULL")

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticket_conversation", "ticket", ["conversation_id", "id"])
    op.create_index("ix_incident_recent", "incident", ["emergency_type", "updated_at"])
    op.create_index("ix_dispatch_unrelayed", "dispatch_item", ["id"], postgresql_where=UNRELAYED,
                    sqlite_where=UNRELAYED)
    op.create_index("ix_message_unprocessed", "message", ["id"], postgresql_where=UNPROCESSED,
                    sqlite_where=UNPROCESSED)
    op.create_index("ix_message_reply", "message", ["reply_to_id"])
    op.create_index("ix_conversation_updated", "conversation", ["updated_at"])
    op.create_index("ix_conversation_held", "conversation", ["held_by_operator"], postgresql_where=HELD,
                    sqlite_where=HELD)


def downgrade() -> None:
    op.drop_index("ix_conversation_held", table_name="conversation")
    op.drop_index("ix_conversation_updated", table_name="conversation")
    op.drop_index("ix_message_reply", table_name="message")
    op.drop_index("ix_message_unprocessed", table_name="message")
    op.drop_index("ix_dispatch_unrelayed", table_name="dispatch_item")
    op.drop_index("ix_incident_recent", table_name="incident")
    op.drop_index("ix_ticket_conversation", table_name="ticket")
