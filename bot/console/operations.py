"""What an operator does in the console: take over, reply, hand back, close, edit a ticket,
reassign. Each writes the audit log in the same transaction as its change (a ticket edit: right
after the desk's own transaction, which publishes the ticket), and messages to the reporter go
through the outbox (push channels send them; pull channels collect them with their next request)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.orm import Session

from bot.console.accounts import Staff, staff_named
from bot.console.board import Board
from bot.messages import clean_text
from bot.storage.database import Database
from bot.storage.models import AuditEntry, Conversation, Message, OutboxMessage, Ticket, utcnow
from bot.tickets.desk import OperatorEdit, TicketDesk
from bot.triage.senders import clear_record, set_abusive

TEXTS = Path(__file__).resolve().parent / "texts.yml"
MAX_REPLY_CHARS = 1000


class Refused(ValueError):
    """The action cannot be done as asked (not held by you, too long for SMS, ...): a 409/422."""


@cache
def texts() -> dict[str, Any]:
    """bot/console/texts.yml."""
    loaded: dict[str, Any] = yaml.safe_load(TEXTS.read_text(encoding="utf-8"))
    return loaded


def reporter_text(key: str, language: str) -> str:
    """A message to the reporter in their language (Indonesian when unknown)."""
    entry = texts()["reporter"][key]
    return str(entry.get(language) or entry["id"])


class Operations:
    """Console actions on conversations the operator may see (Board decides which)."""

    def __init__(self, db: Database, board: Board, desk: TicketDesk,
                 fits: dict[str, Callable[[str], bool]]) -> None:
        self.db = db
        self.board = board
        self.desk = desk
        self.fits = fits

    def take_over(self, staff: Staff, public_id: str) -> int:
        """The bot stops answering; the reporter is told an officer joined. Returns the id."""
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            if conversation.held_by_operator and conversation.held_by_operator != staff.name:
                raise Refused(f"held by {conversation.held_by_operator}")
            if conversation.held_by_operator != staff.name:
                conversation.held_by_operator, conversation.held_since = staff.name, utcnow()
                conversation.needs_person = None
                self._tell(session, conversation, reporter_text("joined", conversation.language), staff)
                _audit(session, staff, "take_over", conversation)
            return conversation.id

    def reply(self, staff: Staff, public_id: str, text: str) -> int:
        """The operator's words, on the reporter's channel."""
        text = clean_text(text).strip()
        if not text:
            raise Refused("a reply needs text")
        if len(text) > MAX_REPLY_CHARS:
            raise Refused(f"at most {MAX_REPLY_CHARS} characters")
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            if conversation.held_by_operator != staff.name:
                raise Refused("take the conversation over before replying")
            fits = self.fits.get(conversation.channel)
            if fits is not None and not fits(text):
                raise Refused("too long for one SMS of two segments")
            self._tell(session, conversation, text, staff)
            _audit(session, staff, "reply", conversation, detail=f"{len(text)} characters")
            return conversation.id

    def hand_back(self, staff: Staff, public_id: str) -> int:
        """The bot answers again, from where the dialogue stood."""
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            self._own(conversation, staff)
            conversation.held_by_operator, conversation.held_since = None, None
            self._tell(session, conversation, reporter_text("handed_back", conversation.language), staff)
            _audit(session, staff, "hand_back", conversation)
            return conversation.id

    def close(self, staff: Staff, public_id: str) -> int:
        """Done: off the board; the reporter's next message starts a new dialogue."""
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            self._own(conversation, staff, allow_free=True)
            conversation.held_by_operator, conversation.held_since = None, None
            conversation.needs_person, conversation.closed_at = None, utcnow()
            conversation.tracker, conversation.contact_id = {}, None
            self._tell(session, conversation, reporter_text("closed", conversation.language), staff)
            _audit(session, staff, "close", conversation)
            return conversation.id

    def reassign(self, staff: Staff, public_id: str, to: str) -> int:
        """A supervisor gives a conversation to another operator of its region."""
        if not staff.supervises:
            raise Refused("only supervisors reassign")
        other = staff_named(self.db, to)
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            if other is None or not other.covers(self.board.region_of(conversation)):
                raise Refused(f"{to!r} is not an operator of this region")
            before = conversation.held_by_operator
            conversation.held_by_operator, conversation.held_since = other.name, utcnow()
            if before is None:
                self._tell(session, conversation, reporter_text("joined", conversation.language), staff)
            _audit(session, staff, "reassign", conversation, detail=f"{before or 'bot'} -> {other.name}")
            return conversation.id

    def mark_sender(self, staff: Staff, public_id: str) -> int:
        """A supervisor marks the sender abusive: replies throttled, emergencies still answered."""
        if not staff.supervises:
            raise Refused("only supervisors mark senders")
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            set_abusive(conversation, staff.actor)
            _audit(session, staff, "mark_sender", conversation)
            return conversation.id

    def clear_sender(self, staff: Staff, public_id: str) -> int:
        """A supervisor clears the sender: no mark, no pranks on record."""
        if not staff.supervises:
            raise Refused("only supervisors clear senders")
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            clear_record(conversation)
            _audit(session, staff, "clear_sender", conversation)
            return conversation.id

    def edit_ticket(self, staff: Staff, public_id: str, ticket_id: int, edit: OperatorEdit) -> int:
        """Type, location, priority, agencies, a note: the ticket is routed and published anew."""
        with self.db.session() as session:
            conversation = self.board.conversation(session, staff, public_id)
            ticket = session.get(Ticket, ticket_id)
            if ticket is None or ticket.conversation_id != conversation.id:
                raise Refused("no such ticket in this conversation")
            conversation_id = conversation.id
        self.desk.operator_edit(ticket_id, staff.actor, edit)
        with self.db.session() as session:
            changes = {k: v for k, v in vars(edit).items() if v not in (None, "") and k != "location"}
            session.add(AuditEntry(operator=staff.name, action="edit", conversation_id=conversation_id,
                                   ticket_id=ticket_id, detail=_describe(changes)))
        return conversation_id

    # -- inside ------------------------------------------------------------------------------------
    @staticmethod
    def _own(conversation: Conversation, staff: Staff, allow_free: bool = False) -> None:
        holder = conversation.held_by_operator
        if holder == staff.name or staff.supervises or (allow_free and holder is None):
            return
        raise Refused("held by someone else" if holder else "take the conversation over first")

    def _tell(self, session: Session, conversation: Conversation, text: str, staff: Staff) -> None:
        outbox = OutboxMessage(conversation_id=conversation.id, channel=conversation.channel,
                               kind="operator", text=text, payload={})
        session.add(outbox)
        session.flush()
        session.add(Message(conversation_id=conversation.id, channel=conversation.channel, direction="out",
                            text=text, payload={"operator": staff.name, "outbox_id": outbox.id}))
        conversation.updated_at = utcnow()


def _audit(session: Session, staff: Staff, action: str, conversation: Conversation, detail: str = "") -> None:
    session.add(AuditEntry(operator=staff.name, action=action, conversation_id=conversation.id,
                           detail=detail))


def _describe(changes: dict[str, Any]) -> str:
    return "; ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in changes.items())[:1000]
