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
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from typing import TYPE_CHECKING, Any

import httpx
from android_sms_gateway import AsyncAPIClient, Message, SmsReceivedPayload, TextMessage, Webhook
from android_sms_gateway.ahttp import HttpxAsyncHttpClient
from android_sms_gateway.enums import HealthStatus, WebhookEvent
from android_sms_gateway.errors import APIError
from fastapi import APIRouter, Request, Response
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.gsm7 import segments
from bot.messages import InboundMessage, OutboundMessage
from bot.outbox import DeliveryError, Outbox
from bot.settings import Settings
from channels.sms_text import SEGMENTS_SENT, split_sms

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from channels import ChannelPlugin

CHANNEL = "sms"
WEBHOOK_PATH = "/webhooks/sms-gateway"
log = logging.getLogger(__name__)

GATEWAY_UP = Gauge("sigap_sms_gateway_up", "1 when the Android SMS gateway answered its last call, else 0")
GATEWAY_SEEN = Gauge("sigap_sms_gateway_last_seen_timestamp_seconds",
                     "When the Android SMS gateway last answered or called in (Unix time)")
# Delivery events of our replies -> outbox delivery status.
DELIVERY_EVENTS = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}
WEBHOOK_EVENTS = ("sms:received", *DELIVERY_EVENTS, "system:ping")




def signature_valid(key: str, body: bytes, timestamp: str, signature: str, tolerance: int) -> bool:
    """The app's webhook signature: hex HMAC-SHA256(key, raw body + timestamp), timestamp fresh."""
    if not (key and signature and timestamp.isdigit()):
        return False
    if abs(time.time() - int(timestamp)) > tolerance:
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
        GATEWAY_UP.set(1 if up else 0)
        if up:
            GATEWAY_SEEN.set(time.time())
        return came_back


class WebhookEnvelope(BaseModel):
    """The app's webhook body: event name, payload and ids."""

    model_config = ConfigDict(extra="ignore")
    event: str
    payload: dict[str, Any] = {}
    id: str | None = None


def to_inbound(payload: dict[str, Any]) -> InboundMessage:
    """An `sms:received` payload as an InboundMessage."""
    # App versions before `sender` existed send only `phoneNumber` (the same number).
    sms = SmsReceivedPayload.from_dict({"sender": payload.get("phoneNumber"), **payload})
    # messageId is a 32-bit hash of the message that the app's docs say is not unique: the
    # sender and receive time make a collision (a report dropped as "retry") impossible.
    key = f"{sms.message_id}:{sms.sender}:{payload['receivedAt']}"[:128]
    return InboundMessage(
        channel=CHANNEL, sender_id=sms.sender, text=sms.message.strip(),
        provider_message_id=key, received_at=sms.received_at.astimezone(UTC),
    )


async def _came_back(outbox: Outbox) -> None:
    """The phone is back: the replies waiting for it go out now."""
    waiting = await asyncio.to_thread(outbox.retry_now, CHANNEL)
    log.info("sms-gateway: the phone is back; %d waiting messages due now", waiting)


def _router(config: Settings, state: GatewayState) -> APIRouter:
    router = APIRouter()
    key = config.sms_gateway_signing_key.get_secret_value()

    @router.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> Response:
        """A signed event from the phone: store a received SMS, record a delivery report."""
        body = await request.body()
        headers = request.headers
        if not signature_valid(key, body, headers.get("x-timestamp", ""), headers.get("x-signature", ""),
                               config.sms_gateway_webhook_tolerance_seconds):
            log.warning("sms-gateway: webhook with a bad or stale signature refused")
            return Response(status_code=403)
        if state.answered(True):
            await _came_back(request.app.state.outbox)
        try:
            envelope = WebhookEnvelope.model_validate_json(body)
            inbound = to_inbound(envelope.payload) if envelope.event == "sms:received" else None
        except (ValidationError, KeyError, ValueError, TypeError, AttributeError) as error:
            log.warning("sms-gateway: unreadable webhook: %s", error)
            return Response(status_code=400)
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
        raise ValueError("SMS_PROVIDER=android needs SMS_GATEWAY_URL, SMS_GATEWAY_PASSWORD "
                         "and SMS_GATEWAY_SIGNING_KEY")
    sender = SmsGatewaySender(settings)

    async def background(_conversations: Conversations, outbox: Outbox) -> None:
        await watch_health(sender, outbox)

    return ChannelPlugin(CHANNEL, _router(settings, sender.state), sender, background)


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
