"""SMS through Twilio: `POST /webhooks/twilio/sms`, replies through the Messages API.

Replies go out in GSM-7 (transliterated, no emoji): a UCS-2 SMS holds 70 characters instead
of 160, and an old phone may show it as boxes. A reply longer than two segments is sent as
several SMS of at most two segments each, cut between sentences or words.
Twilio offers no two-way SMS in Indonesia; there SMS goes through channels.smpp or
channels.sms_gateway, which use the same channel name, "sms": configure only one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.messages import InboundMessage
from bot.settings import Settings
from channels.gsm7 import segments
from channels.sms_text import SEGMENTS_SENT, split_sms
from channels.twilio_common import Form, TwilioAccount, TwilioSender, media_refs, required, twilio_plugin

if TYPE_CHECKING:
    from channels import ChannelPlugin

CHANNEL = "sms"
PATH = "/webhooks/twilio/sms"


def plugin(settings: Settings) -> ChannelPlugin | None:
    """The Twilio SMS channel, when the Twilio account and TWILIO_SMS_FROM are set
    (and SMS_PROVIDER is unset or "twilio")."""
    account = TwilioAccount.of(settings)
    sender = settings.twilio_sms_from
    if account is None or not sender or settings.sms_provider not in (None, "", "twilio"):
        return None
    return twilio_plugin(settings, account, PATH, to_inbound, SmsSender(account, sender))


def to_inbound(form: Form) -> InboundMessage:
    """Translate Twilio's SMS webhook fields (MMS media included); 400 without From or MessageSid."""
    sender, sid = required(form, "From", "MessageSid")
    return InboundMessage(
        channel=CHANNEL,
        sender_id=sender,
        text=form.get("Body", "").strip(),
        provider_message_id=sid,
        media=media_refs(form),
    )


class SmsSender(TwilioSender):
    """Sends replies as SMS; buttons are already spelled out in the text ("Balas YA atau TIDAK")."""

    def __init__(self, account: TwilioAccount, sender: str) -> None:
        # GSM-7 bodies of at most MAX_SEGMENTS segments each.
        super().__init__(CHANNEL, account, sender, lambda number: number, split_sms)

    def sent(self, body: str) -> None:
        """Count the segments Twilio will bill."""
        SEGMENTS_SENT.labels(CHANNEL).inc(segments(body))
