"""What a dispatcher may see: the incidents of their agency in their regions, as ticket-v1
documents, and the transcripts of their reporters. Anything else does not exist for them (404)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.storage.database import Database
from bot.storage.models import Conversation, Incident, Message, OutboxMessage, Ticket
from bot.tickets.desk import Rules
from bot.tickets.document import document, iso
from bot.tickets.views import TicketNotFound


@dataclass(frozen=True)
class Access:
    """A dispatcher: their name (what events record), their agency and regions (None: all, the
    development tokens of SIGAP_API_TOKENS)."""

    name: str
    agency: str | None
    regions: frozenset[str] | None

    @property
    def actor(self) -> str:
        """How events name them."""
        return f"dispatcher:{self.name}"

    def sees(self, incident: Incident) -> bool:
        """Whether the incident is theirs: their agency is dispatched, in one of their regions."""
        agency_ok = self.agency is None or self.agency in (incident.agencies or [])
        region_ok = self.regions is None or incident.region in self.regions
        return agency_ok and region_ok


class Dispatchers:
    """Reads for the dispatch API, filtered by what the caller may see."""

    def __init__(self, db: Database, rules: Rules) -> None:
        self.db = db
        self.rules = rules

    def incidents(self, access: Access, status: str | None, limit: int) -> list[dict[str, Any]]:
        """The caller's incidents, newest first."""
        query = select(Incident).where(Incident.merged_into_id.is_(None)).order_by(Incident.id.desc())
        if status:
            query = query.where(Incident.status == status)
        found: list[dict[str, Any]] = []
        with self.db.session() as session:
            for incident in session.scalars(query.limit(limit * 5)):
                if access.sees(incident) and incident.tickets:
                    found.append(document(session, incident, "updated", self.rules.priorities,
                                          self.rules.regions))
                if len(found) >= limit:
                    break
        return found

    def ticket(self, access: Access, ticket_id: int) -> dict[str, Any]:
        """The document of the incident a ticket reports; TicketNotFound when not theirs."""
        with self.db.session() as session:
            incident = self._incident(session, access, ticket_id)
            return document(session, incident, "updated", self.rules.priorities, self.rules.regions)

    def check(self, access: Access, ticket_id: int) -> None:
        """TicketNotFound unless the caller may act on the ticket."""
        with self.db.session() as session:
            self._incident(session, access, ticket_id)

    def transcript(self, access: Access, public_id: str) -> dict[str, Any]:
        """A conversation's messages, for the agencies of its tickets; LookupError otherwise."""
        with self.db.session() as session:
            query = select(Conversation).where(Conversation.public_id == public_id)
            conversation = session.scalars(query).first()
            if conversation is None:
                raise LookupError(public_id)
            tickets = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)).all()
            if not any(t.incident is not None and access.sees(t.incident) for t in tickets):
                raise LookupError(public_id)
            messages = session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                       .order_by(Message.id)).all()
            delivery = {row.id: row.delivery_status or row.status for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.conversation_id == conversation.id))}
            return {
                "conversation": public_id, "channel": conversation.channel, "contact": conversation.sender_id,
                "language": conversation.language, "tickets": [t.number for t in tickets],
                "messages": [{"at": iso(m.created_at), "from": "reporter" if m.direction == "in" else "bot",
                              "text": m.text, "location": (m.payload or {}).get("location"),
                              "media": (m.payload or {}).get("media", []),
                              "delivery": delivery.get(int((m.payload or {}).get("outbox_id") or 0))}
                             for m in messages],
            }

    @staticmethod
    def _incident(session: Any, access: Access, ticket_id: int) -> Incident:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None or ticket.incident is None or not access.sees(ticket.incident):
            raise TicketNotFound(ticket_id)
        incident: Incident = ticket.incident
        return incident
