"""WhatsApp through Twilio: `POST /webhooks/twilio/whatsapp`, replies through the Messages API.

Reporters are kept by their number (+62...); Twilio's "whatsapp:" prefix is taken off on the
way in and put back on the way out, so ids look the same on every channel.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.messages import InboundMessage, OutboundMessage
from bot.settings import Settings
from channels.sms_text import split_text
from channels.twilio_common import (
    MAX_BODY_CHARS,
    Form,
    TwilioAccount,
    TwilioSender,
    media_refs,
    required,
    twilio_plugin,
)

if TYPE_CHECKING:
    from channels import ChannelPlugin

CHANNEL = "whatsapp"
# WhatsApp's customer service window: free-form replies only this long after the last message.
WINDOW = timedelta(hours=24)
PATH = "/webhooks/twilio/whatsapp"
PREFIX = "whatsapp:"
log = logging.getLogger(__name__)


def plugin(settings: Settings) -> ChannelPlugin | None:
    """The WhatsApp channel, when the Twilio account and TWILIO_WHATSAPP_FROM are set."""
    account = TwilioAccount.of(settings)
    sender = settings.twilio_whatsapp_from
    if account is None or not sender:
        return None
    if not sender.startswith(("MG", PREFIX)):
        sender = PREFIX + sender
    sender_ = WhatsAppSender(account, sender, settings.twilio_whatsapp_templates)
    return twilio_plugin(settings, account, PATH, to_inbound, sender_)


def to_inbound(form: Form) -> InboundMessage:
    """Translate Twilio's WhatsApp webhook fields; 400 without From or MessageSid."""
    sender, sid = required(form, "From", "MessageSid")
    latitude, longitude = location(form)
    return InboundMessage(
        channel=CHANNEL,
        sender_id=sender.removeprefix(PREFIX),
        text=form.get("Body", "").strip(),
        provider_message_id=sid,
        latitude=latitude,
        longitude=longitude,
        media=media_refs(form),
    )


def location(form: Form) -> tuple[float | None, float | None]:
    """A shared location pin; (None, None) when absent or not a valid point."""
    raw = form.get("Latitude"), form.get("Longitude")
    if not raw[0] or not raw[1]:
        return None, None
    try:
        latitude, longitude = float(raw[0]), float(raw[1])
    except ValueError:
        latitude = longitude = math.nan
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):  # also false for nan
        # The text of the message still counts: keep it, drop only the broken point.
        log.warning("WhatsApp location %r ignored: not a valid point", raw)
        return None, None
    return latitude, longitude


def fits_body(text: str) -> bool:
    """Within Twilio's Body limit (it counts UTF-16 units: an emoji takes two)."""
    return len(text.encode("utf-16-le")) // 2 <= MAX_BODY_CHARS


class WhatsAppSender(TwilioSender):
    """Sends replies as WhatsApp session messages (free-form text, no GSM-7 limits); a status
    update after the 24-hour window as the approved template for its status and language."""

    def __init__(self, account: TwilioAccount, sender: str, templates: dict[str, str] | None = None) -> None:
        super().__init__(CHANNEL, account, sender, lambda number: PREFIX + number,
                         lambda text: split_text(text, fits_body))
        self.templates = templates or {}

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """Free-form text inside the window; outside it, a configured template (content_sid)."""
        template = message.custom.get("template")
        if template and outside_window(message.custom.get("last_inbound_at")):
            sid = self.templates.get(f"{template['name']}:{template['language']}")
            if sid:
                return await self.create_template(recipient, sid, template.get("values") or {})
            log.warning("no WhatsApp template %s:%s configured: sent as text, which WhatsApp refuses "
                        "after 24 hours", template["name"], template["language"])
        return await super().send(recipient, message)


def outside_window(last_inbound_at: str | None, now: datetime | None = None) -> bool:
    """WhatsApp allows free-form messages for 24 hours after the reporter's last message."""
    if not last_inbound_at:
        return False
    last = datetime.fromisoformat(last_inbound_at)
    return (now or datetime.now(UTC)) - last > WINDOW
