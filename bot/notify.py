"""Tell a reporter what happens to their ticket, in their language, through the outbox."""

from __future__ import annotations

from bot import reminders
from bot.messages import OutboundMessage
from bot.models import Conversation, OutboxMessage
from bot.responses import render
from bot.services import Services
from bot.tickets import TicketView

# Guidance reminders ("keep pressing") stop once officers are there or the ticket closed.
HELP_ARRIVED = frozenset({"on_scene", "resolved", "cancelled"})


def tell_status(services: Services, ticket: TicketView) -> OutboundMessage:
    """Queue the message for the ticket's new status to its reporter; returns it."""
    conversation_id, channel, _sender = services.desk.reporter(ticket.id)
    with services.db.session() as session:
        conversation = session.get_one(Conversation, conversation_id)
        slots = services.domain.initial_slots() | (conversation.tracker or {}).get("slots", {})
        slots["user_language"] = slots.get("user_language") or conversation.language
        reply = render(
            services.domain.responses, f"utter_status_{ticket.status}", slots, channel,
            {"ticket_number": ticket.number},
        )
        message = OutboundMessage.of(reply)
        session.add(OutboxMessage(
            conversation_id=conversation_id, channel=channel, kind="notice", text=message.text,
            payload={"ticket_id": ticket.id, "status": ticket.status},
        ))
    if ticket.status in HELP_ARRIVED:
        reminders.cancel(services.db, conversation_id)
    return message
