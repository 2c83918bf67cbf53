"""Dispatch a 112 centre can run: incidents, regions, the deadline clock, agency tokens,
public ids for conversations.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("emergency_type", sa.String(length=40), nullable=False),
        sa.Column("other_types", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("location", sa.JSON(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("place_key", sa.String(length=200), nullable=True),
        sa.Column("cues", sa.JSON(), nullable=False),
        sa.Column("deadline_at", Moment, nullable=False),
        sa.Column("first_movement_at", Moment, nullable=True),
        sa.Column("escalated_at", Moment, nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("updated_at", Moment, nullable=False),
        sa.ForeignKeyConstraint(["merged_into_id"], ["incident.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_incident_open", "incident", ["status", "emergency_type", "updated_at"])
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("agency", sa.String(length=40), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", Moment, nullable=False),
        sa.Column("revoked_at", Moment, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    # Conversations made before get a public id each, then the column is required and unique.
    with op.batch_alter_table("conversation") as conversation:
        conversation.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM conversation"))]
    for conversation_id in ids:
        bind.execute(sa.text("UPDATE conversation SET public_id = :p WHERE id = :i"),
                     {"p": secrets.token_hex(12), "i": conversation_id})
    with op.batch_alter_table("conversation") as conversation:
        conversation.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        conversation.create_unique_constraint("uq_conversation_public_id", ["public_id"])
    with op.batch_alter_table("ticket") as ticket:
        ticket.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        ticket.create_index("ix_ticket_incident_id", ["incident_id"])
        ticket.create_foreign_key("fk_ticket_incident", "incident", ["incident_id"], ["id"])
    with op.batch_alter_table("ticket_event") as event:
        event.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        event.create_index("ix_ticket_event_incident_id", ["incident_id"])
        event.create_foreign_key("fk_ticket_event_incident", "incident", ["incident_id"], ["id"])
    with op.batch_alter_table("dispatch_item") as item:
        item.add_column(sa.Column("incident_id", sa.Integer(), nullable=True))
        item.add_column(sa.Column("region", sa.String(length=16), nullable=False, server_default=""))
        item.create_foreign_key("fk_dispatch_item_incident", "incident", ["incident_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("dispatch_item") as item:
        item.drop_constraint("fk_dispatch_item_incident", type_="foreignkey")
        item.drop_column("region")
        item.drop_column("incident_id")
    with op.batch_alter_table("ticket_event") as event:
        event.drop_constraint("fk_ticket_event_incident", type_="foreignkey")
        event.drop_index("ix_ticket_event_incident_id")
        event.drop_column("incident_id")
    with op.batch_alter_table("ticket") as ticket:
        ticket.drop_constraint("fk_ticket_incident", type_="foreignkey")
        ticket.drop_index("ix_ticket_incident_id")
        ticket.drop_column("incident_id")
    with op.batch_alter_table("conversation") as conversation:
        conversation.drop_constraint("uq_conversation_public_id", type_="unique")
        conversation.drop_column("public_id")
    op.drop_table("api_token")
    op.drop_index("ix_incident_open", "incident")
    op.drop_table("incident")
