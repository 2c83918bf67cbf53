"""Traffic: contacts and what each was, repeated texts counted, long texts' fingerprints.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("conversation_id", sa.Integer(), sa.ForeignKey("conversation.id"), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=True),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("silent", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_contact_started", "contact", ["started_at"])
    with op.batch_alter_table("conversation") as conversation:
        conversation.add_column(sa.Column("contact_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("message") as message:
        message.add_column(sa.Column("repeats", sa.Integer(), nullable=False, server_default="0"))
        message.add_column(sa.Column("digest", sa.String(length=16), nullable=True))
    op.create_index("ix_message_digest", "message", ["digest", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_message_digest", table_name="message")
    with op.batch_alter_table("message") as message:
        message.drop_column("digest")
        message.drop_column("repeats")
    with op.batch_alter_table("conversation") as conversation:
        conversation.drop_column("contact_id")
    op.drop_index("ix_contact_started", table_name="contact")
    op.drop_table("contact")
