"""Tell a reporter what happens to their ticket, in their language, through the outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.delivery import reminders
from bot.dialogue.responses import render
from bot.messages import OutboundMessage
from bot.services import Services
from bot.storage.models import Conversation, Message, OutboxMessage
from bot.tickets.document import iso
from bot.tickets.views import TicketView

# Guidance reminders ("keep pressing") stop once officers are there or the ticket closed.
HELP_ARRIVED = frozenset({"on_scene", "resolved", "cancelled"})


def queue_status_notice(services: Services, session: Session, ticket: TicketView) -> OutboundMessage:
    """Write the message for the ticket's new status to its reporter, in the caller's transaction."""
    conversation = session.get_one(Conversation, ticket.conversation_id)
    slots = services.domain.initial_slots() | (conversation.tracker or {}).get("slots", {})
    slots["user_language"] = slots.get("user_language") or conversation.language
    reply = render(
        services.domain.responses, f"utter_status_{ticket.status}", slots, conversation.channel,
        {"ticket_number": ticket.number},
    )
    message = OutboundMessage.of(reply)
    last_inbound = session.scalar(
        select(Message.created_at)
        .where(Message.conversation_id == conversation.id, Message.direction == "in")
        .order_by(Message.id.desc()).limit(1))
    # What a channel needs to send this outside a messaging window (WhatsApp after 24 hours: an
    # approved template, with the ticket number as its variable): channels decide, not the core.
    template = {"name": f"status_{ticket.status}", "language": str(slots["user_language"]),
                "values": {"1": ticket.number}}
    custom = {**message.custom, "template": template, "last_inbound_at": iso(last_inbound)}
    session.add(OutboxMessage(
        conversation_id=conversation.id, channel=conversation.channel, kind="notice",
        text=message.text, payload={"ticket_id": ticket.id, "status": ticket.status, "custom": custom},
    ))
    return message


def after_status(services: Services, ticket: TicketView) -> None:
    """Once officers are there or the ticket closed, guidance reminders stop."""
    if ticket.status in HELP_ARRIVED:
        reminders.cancel(services.db, ticket.conversation_id)
