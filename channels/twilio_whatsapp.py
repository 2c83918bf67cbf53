"""WhatsApp through Twilio: `POST /webhooks/twilio/whatsapp`, replies through the Messages API.

Reporters are kept by their number (+62...); Twilio's "whatsapp:" prefix is taken off on the
way in and put back on the way out, so ids look the same on every channel.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from bot.messages import InboundMessage
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
    return twilio_plugin(settings, account, PATH, to_inbound, WhatsAppSender(account, sender))


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
    """Sends replies as WhatsApp session messages (free-form text, no GSM-7 limits)."""

    def __init__(self, account: TwilioAccount, sender: str) -> None:
        super().__init__(CHANNEL, account, sender, lambda number: PREFIX + number,
                         lambda text: split_text(text, fits_body))
