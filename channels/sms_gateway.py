"""SMS through an Android phone with a local SIM running "SMS Gateway for Android" (sms-gate.app).

Inbound: the app POSTs signed webhooks to `/webhooks/sms-gateway` (`sms:received`; `sms:sent`,
`sms:delivered`, `sms:failed` for our replies; `system:ping` as a heartbeat). Outbound: the app's
REST API through its client library, `android-sms-gateway`. Webhook format and signature:
the app's docs (features/webhooks: HMAC-SHA256 over raw body + X-Timestamp, hex in X-Signature).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from android_sms_gateway import AsyncAPIClient, Message, TextMessage, Webhook
from android_sms_gateway.ahttp import HttpxAsyncHttpClient
from android_sms_gateway.enums import HealthStatus, WebhookEvent
from android_sms_gateway.errors import APIError
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.delivery.outbox import DeliveryError, Outbox
from bot.messages import InboundMessage, InvalidMessage, OutboundMessage
from bot.privacy import clean_for_log
from bot.settings import ConfigurationError, Settings
from channels import json_limits
from channels.gsm7 import segments
from channels.rest import json_body
from channels.sms_text import SEGMENTS_SENT, fits_operator_sms, split_sms

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from channels import ChannelPlugin

CHANNEL = "sms"
WEBHOOK_PATH = "/webhooks/sms-gateway"
log = logging.getLogger(__name__)

# Labelled, so that a deployment without the gateway exports no sample (not a "down" 0).
GATEWAY_UP = Gauge("sigap_sms_gateway_up", "1 when the Android SMS gateway answered its last call, else 0",
                   ["provider"])
GATEWAY_SEEN = Gauge("sigap_sms_gateway_last_seen_timestamp_seconds",
                     "When the Android SMS gateway last answered or called in (Unix time)", ["provider"])
PROVIDER = "android"
# Delivery events of our replies -> outbox delivery status.
DELIVERY_EVENTS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
WEBHOOK_EVENTS = ("sms:received", *DELIVERY_EVENTS, "system:ping")




_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def headers_plausible(key: str, timestamp: str, signature: str, tolerance: int) -> bool:
    """What can be checked before the body is read: a key is set, the timestamp is ASCII digits
    and fresh (±tolerance), the signature is 64 hex digits."""
    if not (key and _TIMESTAMP.fullmatch(timestamp) and _HEX_SIGNATURE.fullmatch(signature.strip())):
        return False
    return abs(time.time() - int(timestamp)) <= tolerance


def signature_valid(key: str, body: bytes, timestamp: str, signature: str, tolerance: int) -> bool:
    """The app's webhook signature: hex HMAC-SHA256(key, raw body + timestamp), timestamp fresh."""
    if not headers_plausible(key, timestamp, signature, tolerance):
        return False
    expected = hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


class GatewayState:
    """Whether the phone answered its last call; operators alert on the gauge."""

    def __init__(self) -> None:
        self.up: bool | None = None

    def answered(self, up: bool) -> bool:
        """Record a call's outcome; True when the phone is back after being down."""
        came_back = up and self.up is False
        self.up = up
        GATEWAY_UP.labels(PROVIDER).set(1 if up else 0)
        if up:
            GATEWAY_SEEN.labels(PROVIDER).set(time.time())
        return came_back


class WebhookEnvelope(BaseModel):
    """The app's webhook body: event name, payload and ids."""

    model_config = ConfigDict(extra="ignore")
    event: str = Field(max_length=64)
    payload: dict[str, Any] = {}
    id: str | None = Field(default=None, max_length=128)


class ReceivedSms(BaseModel):
    """An `sms:received` payload, typed at the edge (the app's docs: messageId, message, sender or
    phoneNumber, receivedAt, simNumber)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    message_id: str = Field(alias="messageId", min_length=1, max_length=64)
    message: str = Field(max_length=64 * 1024)
    sender: str | None = Field(default=None, min_length=1, max_length=64)
    phone_number: str | None = Field(default=None, alias="phoneNumber", min_length=1, max_length=64)
    received_at: str = Field(alias="receivedAt", min_length=1, max_length=40)


def to_inbound(payload: dict[str, Any]) -> InboundMessage:
    """An `sms:received` payload as an InboundMessage (ValidationError or InvalidMessage when it
    cannot be one)."""
    sms = ReceivedSms.model_validate(payload)
    # App versions before `sender` existed send only `phoneNumber` (the same number).
    sender = sms.sender or sms.phone_number
    if sender is None:
        raise InvalidMessage("an SMS without a sender")
    # messageId is a 32-bit hash of the message that the app's docs say is not unique: the
    # sender and receive time make a collision (a report dropped as "retry") impossible.
    key = f"{sms.message_id}:{sender}:{sms.received_at}"[:128]
    return InboundMessage(
        channel=CHANNEL, sender_id=sender, text=sms.message.strip(),
        provider_message_id=key, received_at=_received_at(sms.received_at),
    )


def _received_at(value: str) -> datetime:
    """The phone's receive time in UTC; the server's when it is not a time this side of 9999."""
    try:
        moment = datetime.fromisoformat(value)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        log.warning("sms-gateway: receivedAt %s is not a time; the server's is used",
                    clean_for_log(value, 40))
        return datetime.now(UTC)


async def _came_back(outbox: Outbox) -> None:
    """The phone is back: the replies waiting for it go out now."""
    waiting = await asyncio.to_thread(outbox.retry_now, CHANNEL)
    log.info("sms-gateway: the phone is back; %d waiting messages due now", waiting)


def _router(config: Settings, state: GatewayState) -> APIRouter:
    router = APIRouter()
    key = config.sms_gateway_signing_key.get_secret_value()

    @router.post(WEBHOOK_PATH, openapi_extra=json_body(WebhookEnvelope))
    async def webhook(request: Request) -> Response:
        """A signed event from the phone: store a received SMS, record a delivery report."""
        headers = request.headers
        timestamp, signature = headers.get("x-timestamp", ""), headers.get("x-signature", "")
        tolerance = config.sms_gateway_webhook_tolerance_seconds
        if not headers_plausible(key, timestamp, signature, tolerance):  # before reading the body
            log.warning("sms-gateway: webhook without a valid signature header refused")
            return Response(status_code=403)
        body = await request.body()
        if not await asyncio.to_thread(signature_valid, key, body, timestamp, signature, tolerance):
            log.warning("sms-gateway: webhook with a bad signature refused")
            return Response(status_code=403)
        if state.answered(True):
            await _came_back(request.app.state.outbox)
        try:
            envelope = WebhookEnvelope.model_validate(json_limits.loads(body))
            inbound = to_inbound(envelope.payload) if envelope.event == "sms:received" else None
        except (ValidationError, ValueError) as error:  # InvalidMessage and UnsafeJson too
            # Only the kinds of error: pydantic's message would echo the sender's number.
            kinds = sorted({e["type"] for e in error.errors()}) if isinstance(error, ValidationError) else []
            log.warning("sms-gateway: unreadable webhook: %s", kinds or clean_for_log(str(error), 100))
            return JSONResponse({"detail": "not a readable SMS Gateway webhook"}, 400)
        if inbound is not None and inbound.text:
            await request.app.state.conversations.accept(inbound)
        elif envelope.event in DELIVERY_EVENTS:
            message_id = envelope.payload.get("messageId")
            if isinstance(message_id, str):
                outbox: Outbox = request.app.state.outbox
                await asyncio.to_thread(outbox.record_delivery, message_id, DELIVERY_EVENTS[envelope.event])
        return Response(status_code=200)

    return router


class SmsGatewaySender:
    """Sends replies through the phone's API: GSM 7-bit, at most two segments per SMS."""

    channel = CHANNEL

    def __init__(self, config: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self.transport = transport
        self.state = GatewayState()

    @asynccontextmanager
    async def api(self) -> AsyncIterator[Any]:
        """The library's async client on a fresh httpx client (closed on exit)."""
        config = self.config
        async with httpx.AsyncClient(timeout=config.sms_gateway_timeout_seconds,
                                     transport=self.transport) as http:
            yield AsyncAPIClient(
                config.sms_gateway_login or None, config.sms_gateway_password.get_secret_value(),
                base_url=config.sms_gateway_url or "", http_client=HttpxAsyncHttpClient(http),
            )

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """One gateway message per text part; the id of the last (delivery events name it)."""
        last_id = None
        try:
            async with self.api() as api:
                for text in split_sms(message.text):
                    state = await api.send(Message(
                        phone_numbers=[recipient], text_message=TextMessage(text=text),
                        with_delivery_report=True, sim_number=self.config.sms_gateway_sim_number,
                    ))
                    last_id = state.id
                    SEGMENTS_SENT.labels(CHANNEL).inc(segments(text))
        except httpx.TransportError as error:  # phone off, no network, timeout
            self.state.answered(False)
            raise DeliveryError(f"SMS gateway unreachable: {error!r}", retryable=True) from error
        except APIError as error:
            status = error.status_code or 0
            self.state.answered(status < 500)
            retryable = status >= 500 or status in (408, 429)
            raise DeliveryError(f"SMS gateway answered {status}: {error}", retryable) from error
        except (KeyError, ValueError, TypeError) as error:  # accepted, probably sent: no resend
            raise DeliveryError(f"SMS gateway answer unreadable: {error!r}", retryable=False) from error
        self.state.answered(True)
        return last_id

    async def check_health(self) -> bool:
        """Ask the gateway's /health and set the gauge; True when the phone is back after being down."""
        try:
            async with self.api() as api:
                health = await api.health_check()
            up = health.status != HealthStatus.FAIL
        except (httpx.TransportError, APIError, KeyError, ValueError, TypeError) as error:
            log.warning("sms-gateway: health check failed: %r", error)
            up = False
        return self.state.answered(up)


async def watch_health(sender: SmsGatewaySender, outbox: Outbox) -> None:
    """Check the gateway's health on a timer, until cancelled."""
    while True:
        if await sender.check_health():
            await _came_back(outbox)
        await asyncio.sleep(sender.config.sms_gateway_health_seconds)


async def register_webhooks(sender: SmsGatewaySender, url: str) -> list[tuple[str, bool]]:
    """Register `url` for received SMS, delivery events and pings; (event, newly added) each."""
    async with sender.api() as api:
        existing = {(hook.event.value, hook.url) for hook in await api.get_webhooks()}
        done = []
        for event in WEBHOOK_EVENTS:
            if (event, url) in existing:
                done.append((event, False))
                continue
            hook_id = "sigap-" + event.replace(":", "-")
            await api.create_webhook(Webhook(id=hook_id, url=url, event=WebhookEvent(event)))
            done.append((event, True))
    return done


def plugin(settings: Settings) -> ChannelPlugin | None:
    """The Android gateway when SMS_PROVIDER=android; missing settings are a startup error."""
    from channels import ChannelPlugin

    if settings.sms_provider != "android":
        return None
    if not (settings.sms_gateway_url and settings.sms_gateway_password.get_secret_value()
            and settings.sms_gateway_signing_key.get_secret_value()):
        raise ConfigurationError("SMS_PROVIDER=android needs SMS_GATEWAY_URL, SMS_GATEWAY_PASSWORD "
                         "and SMS_GATEWAY_SIGNING_KEY")
    sender = SmsGatewaySender(settings)

    async def background(_conversations: Conversations, outbox: Outbox) -> None:
        await watch_health(sender, outbox)

    return ChannelPlugin(CHANNEL, _router(settings, sender.state), sender, background, fits_operator_sms)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`sigap sms-gateway register-webhook [--url URL]`."""
    gateway = commands.add_parser("sms-gateway", help="the Android SMS gateway").add_subparsers(
        required=True, metavar="SMS_GATEWAY_COMMAND")
    register = gateway.add_parser("register-webhook",
                                  help="have the phone POST received SMS and delivery reports here")
    register.add_argument("--url", help=f"the webhook URL (default: PUBLIC_URL{WEBHOOK_PATH})")
    register.set_defaults(handler=_register_webhook)


def _register_webhook(args: argparse.Namespace) -> int:
    from bot.settings import get_settings

    settings = get_settings()
    if not settings.sms_gateway_url:
        print("SMS_GATEWAY_URL is not set")
        return 2
    url = args.url or settings.public_url.rstrip("/") + WEBHOOK_PATH
    try:
        done = asyncio.run(register_webhooks(SmsGatewaySender(settings), url))
    except (httpx.TransportError, APIError) as error:
        print(f"the SMS gateway refused or is unreachable: {error!r}")
        return 1
    for event, added in done:
        print(f"{event:<15} {url}  {'registered' if added else 'already registered'}")
    return 0
