"""Operator console: operators, their sessions, the audit log; takeover, region and closing of
conversations; an operator's priority and agencies on a ticket.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "operator",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("disabled_at", Moment, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "operator_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("expires_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operator.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_operator_session_operator_id", "operator_session", ["operator_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_log_created", "audit_log", ["created_at"])
    with op.batch_alter_table("conversation") as conversation:
        conversation.add_column(sa.Column("held_since", Moment, nullable=True))
        conversation.add_column(sa.Column("unsure_streak", sa.Integer(), nullable=False, server_default="0"))
        conversation.add_column(sa.Column("region", sa.String(length=16), nullable=False, server_default=""))
        conversation.add_column(sa.Column("closed_at", Moment, nullable=True))
    with op.batch_alter_table("ticket") as ticket:
        ticket.add_column(sa.Column("priority_override", sa.String(length=10), nullable=True))
        ticket.add_column(sa.Column("agencies_override", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as ticket:
        ticket.drop_column("agencies_override")
        ticket.drop_column("priority_override")
    with op.batch_alter_table("conversation") as conversation:
        for column in ("closed_at", "region", "unsure_streak", "held_since"):
            conversation.drop_column(column)
    op.drop_index("ix_audit_log_created", "audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_operator_session_operator_id", "operator_session")
    op.drop_table("operator_session")
    op.drop_table("operator")
