"""SMS through Twilio: `POST /webhooks/twilio/sms`, replies through the Messages API.

Replies go out in GSM-7 (transliterated, no emoji): a UCS-2 SMS holds 70 characters instead
of 160, and an old phone may show it as boxes. A reply longer than two segments is sent as
several SMS of at most two segments each, cut between sentences or words.
Twilio offers no two-way SMS in Indonesia; there SMS goes through channels.smpp or
channels.sms_gateway, which use the same channel name, "sms": configure only one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from bot.gsm7 import segments, to_gsm7
from bot.messages import InboundMessage
from bot.settings import Settings
from channels.sms_text import SEGMENTS_SENT, fits_sms
from channels.twilio_common import (
    Form,
    TwilioAccount,
    TwilioSender,
    accept,
    add_status_route,
    media_refs,
    required,
    serves_status,
    signed_form,
)

if TYPE_CHECKING:
    from channels import ChannelPlugin

CHANNEL = "sms"
PATH = "/webhooks/twilio/sms"


def plugin(settings: Settings) -> ChannelPlugin | None:
    """The Twilio SMS channel, when the Twilio account and TWILIO_SMS_FROM are set
    (and SMS_PROVIDER is unset or "twilio")."""
    from channels import ChannelPlugin

    account = TwilioAccount.of(settings)
    sender = settings.twilio_sms_from
    if account is None or not sender or settings.sms_provider not in (None, "", "twilio"):
        return None
    router = APIRouter()

    @router.post(PATH)
    async def webhook(request: Request) -> Response:
        form = await signed_form(request, account, PATH)
        return await accept(request, to_inbound(form))

    if serves_status(settings, CHANNEL):
        add_status_route(router, account)
    return ChannelPlugin(CHANNEL, router, SmsSender(account, sender))


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
        super().__init__(CHANNEL, account, sender, lambda number: number, fits_sms)

    def parts(self, text: str) -> list[str]:
        """GSM-7 bodies of at most MAX_SEGMENTS segments."""
        return super().parts(to_gsm7(text))

    def sent(self, body: str) -> None:
        """Count the segments Twilio will bill."""
        SEGMENTS_SENT.labels(CHANNEL).inc(segments(body))
