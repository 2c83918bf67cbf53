"""SQLAlchemy 2 models: conversations, messages, tickets, ticket events, dispatch queue, outbox."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Now, timezone-aware in UTC."""
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A stored moment as an aware datetime: SQLite hands back naive ones, which are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def public_id() -> str:
    """An identifier to show outside (a transcript link, an incident id): says nothing, guesses nothing."""
    return secrets.token_hex(12)


# The rows the partial indexes hold (their queries name the same condition, constants included).
UNPROCESSED = sql("direction = 'in' AND processed_at IS NULL")
_UNRELAYED = sql("relayed_at IS NULL")
_HELD = sql("held_by_operator IS NOT NULL")


class Base(DeclarativeBase):
    """Declarative base of every Sigap table."""

    type_annotation_map = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Conversation(Base):
    """One reporter on one channel; holds the dialogue tracker (events and slots)."""

    __tablename__ = "conversation"
    # The console board's conversations: those active in the last day and those an operator holds.
    __table_args__ = (UniqueConstraint("channel", "sender_id"),
                      Index("ix_conversation_updated", "updated_at"),
                      Index("ix_conversation_held", "held_by_operator", postgresql_where=_HELD,
                            sqlite_where=_HELD))

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the dispatch API calls it (/api/conversations/{public_id}): not a count of reporters.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=public_id)
    channel: Mapped[str] = mapped_column(String(32))
    # The provider's address of the reporter (a phone number for SMS): personal data,
    # shown only behind operator login and masked in logs.
    sender_id: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8), default="id")
    tracker: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The operator who took the conversation over: the bot stays silent meanwhile.
    held_by_operator: Mapped[str | None] = mapped_column(String(64), default=None)
    held_since: Mapped[datetime | None] = mapped_column(default=None)
    # Why an operator should look at this conversation now (a hazard word in a joke, ...).
    needs_person: Mapped[str | None] = mapped_column(String(64), default=None)
    # How many messages running the NLU was unsure of (two: an operator should look).
    unsure_streak: Mapped[int] = mapped_column(default=0)
    # The 112 centre whose operators see it: its incident's region ("" until one is known: the
    # deployment's default centre).
    region: Mapped[str] = mapped_column(String(16), default="")
    # Closed by an operator; the reporter's next message opens it again, as a new dialogue.
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    # The sender's recent pranks (ISO times, newest last, at most 50): their score decays.
    pranks: Mapped[list[Any]] = mapped_column(default=list)
    # Marked abusive by a supervisor (console or `sigap sender mark`): replies are throttled.
    abusive_since: Mapped[datetime | None] = mapped_column(default=None)
    abusive_by: Mapped[str | None] = mapped_column(String(64), default=None)
    # The contact under way (what a call is to a voice centre), None between contacts.
    contact_id: Mapped[int | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    """A message in or out of a conversation, stored before it is processed or sent."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        Index("ix_message_conversation", "conversation_id", "id"),
        Index("ix_message_digest", "digest", "created_at"),
        # What the sweep looks for every few seconds in each process: the few messages in that no
        # turn finished, among every message ever (bot/inbox.py, `Inbox.unprocessed`).
        Index("ix_message_unprocessed", "id", postgresql_where=UNPROCESSED, sqlite_where=UNPROCESSED),
        # A provider's retry of a message is answered with what was replied to it (`replies_to`):
        # many at once after an outage.
        Index("ix_message_reply", "reply_to_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    channel: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    text: Mapped[str] = mapped_column(Text, default="")
    provider_message_id: Mapped[str | None] = mapped_column(String(128), default=None)
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"), default=None)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The same text again from the same sender within minutes: counted here, not stored again.
    repeats: Mapped[int] = mapped_column(default=0)
    # A long inbound text's fingerprint: the same text from many senders is a chain message.
    digest: Mapped[str | None] = mapped_column(String(16), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class Incident(Base):
    """What the agencies act on: one emergency, reported by one reporter or several (their
    tickets). Its status, deadline and agencies are the dispatch state; tickets mirror the status."""

    __tablename__ = "incident"
    # A new report looks for the incidents of its type with a report in the last half hour
    # (bot/tickets/incidents.py): by type and time, among a year of closed ones.
    __table_args__ = (Index("ix_incident_open", "status", "emergency_type", "updated_at"),
                      Index("ix_incident_owed", "publish_owed"),
                      Index("ix_incident_recent", "emergency_type", "updated_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=public_id)
    emergency_type: Mapped[str] = mapped_column(String(40))
    other_types: Mapped[list[Any]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(10), default="high")
    status: Mapped[str] = mapped_column(String(20), default="new")
    agencies: Mapped[list[Any]] = mapped_column(default=list)
    region: Mapped[str] = mapped_column(String(16), default="")
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The point and the place words, for matching later reports of the same emergency.
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    place_key: Mapped[str | None] = mapped_column(String(200), default=None)
    cues: Mapped[list[Any]] = mapped_column(default=list)
    deadline_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_movement_at: Mapped[datetime | None] = mapped_column(default=None)
    escalated_at: Mapped[datetime | None] = mapped_column(default=None)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its last notice, and the change a notice still owes its agencies: a busy incident is
    # published at most once a second (bot/tickets/desk.py).
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    publish_owed: Mapped[str | None] = mapped_column(String(20), default=None)

    tickets: Mapped[list[Ticket]] = relationship(back_populates="incident", order_by="Ticket.id")


class Ticket(Base):
    """One reporter's report of an incident: what they said, where, who is hurt."""

    __tablename__ = "ticket"
    # A conversation's newest open ticket is asked for by most turns (bot/tickets/desk.py).
    __table_args__ = (Index("ix_ticket_conversation", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), default=None, index=True)
    emergency_type: Mapped[str] = mapped_column(String(40))
    # Further emergencies of the same report (a road accident whose car caught fire).
    other_types: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="high")
    agencies: Mapped[list[Any]] = mapped_column(default=list)
    location_text: Mapped[str | None] = mapped_column(Text, default=None)
    location: Mapped[dict[str, Any]] = mapped_column(default=dict)
    people_injured: Mapped[str | None] = mapped_column(Text, default=None)
    cues: Mapped[list[Any]] = mapped_column(default=list)
    # Photos and other media the reporter sent: provider references, not the files.
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="id")
    # An operator's decision, kept over what the rules would route: a priority, the agencies.
    priority_override: Mapped[str | None] = mapped_column(String(10), default=None)
    agencies_override: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )
    incident: Mapped[Incident | None] = relationship(back_populates="tickets")
    conversation: Mapped[Conversation] = relationship()

    @property
    def number(self) -> str:
        """The reference a reporter and a dispatcher quote."""
        return f"112-{self.id:06d}"


class TicketEvent(Base):
    """Something that happened to a ticket: created, updated, a status change."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"), index=True)
    # Set on what happened to the whole incident (a status, an escalation, a merge, a split).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), default=None, index=True)
    # created | updated | status | type_changed | type_added | merged | split | escalated
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str | None] = mapped_column(String(20), default=None)
    actor: Mapped[str] = mapped_column(String(64), default="bot")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class DispatchItem(Base):
    """The embedded dispatch queue: one row per (ticket change, agency) until acknowledged."""

    __tablename__ = "dispatch_item"
    # The relay reads the notices not yet in Redis, oldest first: few, among every notice ever.
    __table_args__ = (Index("ix_dispatch_pending", "agency", "acked_at", "id"),
                      Index("ix_dispatch_unrelayed", "id", postgresql_where=_UNRELAYED,
                            sqlite_where=_UNRELAYED))

    id: Mapped[int] = mapped_column(primary_key=True)
    agency: Mapped[str] = mapped_column(String(40))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), default=None)
    region: Mapped[str] = mapped_column(String(16), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the notice was copied to a Redis stream (production queue).
    relayed_at: Mapped[datetime | None] = mapped_column(default=None)
    acked_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxMessage(Base):
    """A message to a reporter, kept until the provider took it (or it finally failed).

    Push channels (Telegram, WhatsApp, SMS) send every reply through here; pull channels
    (REST, shell) collect status notices from here with their next request.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        Index("ix_outbox_conversation", "conversation_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    channel: Mapped[str] = mapped_column(String(32), default="")
    # reply (to a message) | notice (a status change) | reminder (scheduled guidance)
    kind: Mapped[str] = mapped_column(String(10), default="reply")
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set while one process sends the row: others neither send it nor anything younger of
    # the same conversation. A process that dies mid-send frees it when this time passes.
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    provider_message_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    """A dispatcher's token for /api: one agency, some regions. Only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    agency: Mapped[str] = mapped_column(String(40))
    regions: Mapped[list[Any]] = mapped_column(default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Operator(Base):
    """A 112 centre operator, supervisor or admin: their regions, an argon2 password hash."""

    __tablename__ = "operator"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # operator | supervisor | admin
    regions: Mapped[list[Any]] = mapped_column(default=list)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class OperatorSession(Base):
    """A console login: only the SHA-256 of the cookie is kept, with the form (CSRF) token."""

    __tablename__ = "operator_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operator.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what in the console, and when: takeovers, replies, edits, hand-backs, closes."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    operator: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversation.id"), default=None)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), default=None)
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """One contact of a reporter with the centre, what a call is to a voice centre: from its first
    message to an hour's silence or its closing, and what it turned out to be (the weekly figures)."""

    __tablename__ = "contact"
    __table_args__ = (Index("ix_contact_started", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id"))
    channel: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(16), default="")
    # incident | information | prank | other | silent (the highest reached; see bot/triage/contacts.py)
    outcome: Mapped[str] = mapped_column(String(16), default="silent")
    # Where information sent the reporter ("water", "default", "faq:cost").
    target: Mapped[str | None] = mapped_column(String(64), default=None)
    messages: Mapped[int] = mapped_column(default=0)
    silent: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)  # its first message received
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    reported_at: Mapped[datetime | None] = mapped_column(default=None)  # its first ticket opened
