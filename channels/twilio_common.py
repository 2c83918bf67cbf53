"""What Twilio's SMS and WhatsApp channels share: signed webhooks, status callbacks, the REST sender."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, Response
from requests import RequestException
from requests.utils import get_environ_proxies
from starlette.datastructures import ImmutableMultiDict
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.delivery.outbox import DeliveryError
from bot.messages import InboundMessage, OutboundMessage
from bot.privacy import clean_for_log
from bot.settings import Settings
from channels.sms_text import fits_operator_sms

if TYPE_CHECKING:
    from channels import ChannelPlugin

log = logging.getLogger(__name__)

STATUS_PATH = "/webhooks/twilio/status"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Replies leave through the REST API (several per turn, status updates later): the webhook
# answers with empty TwiML so Twilio sends nothing itself.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Twilio refuses a Body longer than 1,600 characters (error 21617).
MAX_BODY_CHARS = 1600
# Twilio sends at most 10 media items with one message.
MAX_MEDIA = 10
# Twilio's webhooks carry a few dozen fields (10 media items add 20): more is not Twilio.
MAX_FORM_FIELDS = 200
# Base64 of an HMAC-SHA1 (28 characters) or HMAC-SHA256 (44).
_SIGNATURE = re.compile(r"[A-Za-z0-9+/]{27}=|[A-Za-z0-9+/]{43}=")
# The requests-based client waits forever by default; a hung send would stall the outbox.
HTTP_TIMEOUT_SECONDS = 15.0
# Twilio's API, where TWILIO_API_URL names no other.
TWILIO_API = "https://api.twilio.com"
# Parts of a split reply already sent, remembered so a retry does not repeat them.
MAX_REMEMBERED_SENDS = 1000

Form = ImmutableMultiDict[str, str]


@dataclass(frozen=True)
class TwilioAccount:
    """Credentials and the URLs Twilio calls back, when the account is configured."""

    account_sid: str
    auth_token: str
    public_url: str
    api_url: str | None

    @classmethod
    def of(cls, settings: Settings) -> TwilioAccount | None:
        """The account from the settings, or None when SID or token is missing."""
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        if not settings.twilio_account_sid or not token:
            return None
        return cls(settings.twilio_account_sid, token, settings.public_url.rstrip("/"),
                   settings.twilio_api_url)

    def rest_client(self) -> Client:
        """Twilio's REST client, pointed at TWILIO_API_URL when one is set (tests)."""
        client = Client(self.account_sid, self.auth_token,
                        http_client=_http_client(self.api_url or TWILIO_API),
                        # Not os.environ: a stray TWILIO_REGION/TWILIO_EDGE would rewrite the host.
                        environment={"TWILIO_REGION": "", "TWILIO_EDGE": ""})
        if self.api_url:
            # The Api domain builds every Messages URL from base_url.
            client.api.base_url = self.api_url.rstrip("/")
        return client


def _http_client(api_url: str) -> TwilioHttpClient:
    """Twilio's HTTP client with the process's proxy and CA settings read once, for its API's
    host: `requests` reads the environment again on every send otherwise (a fifth of a send's CPU)."""
    client = TwilioHttpClient(timeout=HTTP_TIMEOUT_SECONDS, proxy=get_environ_proxies(api_url))
    assert client.session is not None  # the client pools its connections
    client.session.trust_env = False
    client.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return client


_FIELDS = ("From", "To", "Body", "MessageSid", "NumMedia", "MediaUrl0", "Latitude", "Longitude",
           "MessageStatus", "ErrorCode")
# Twilio's webhook form, for the OpenAPI schema (docs, schemathesis).
FORM_SCHEMA = {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
    "schema": {"type": "object", "properties": {name: {"type": "string"} for name in _FIELDS}}}}}}


def twilio_plugin(
    settings: Settings, account: TwilioAccount, path: str,
    to_inbound: Callable[[Form], InboundMessage], sender: TwilioSender,
) -> ChannelPlugin:
    """A Twilio channel: its signed webhook at `path`, its sender, and the status route."""
    from channels import ChannelPlugin

    router = APIRouter()

    @router.post(path, openapi_extra=FORM_SCHEMA)
    async def webhook(request: Request) -> Response:
        form = await signed_form(request, account, path)
        return await accept(request, to_inbound(form))

    if serves_status(settings, sender.channel):
        add_status_route(router, account)
    fits = fits_operator_sms if sender.channel == "sms" else None
    return ChannelPlugin(sender.channel, router, sender, fits=fits)


def serves_status(settings: Settings, channel: str) -> bool:
    """Whether this channel mounts the shared status route (WhatsApp if configured, else SMS)."""
    return channel == "whatsapp" or not settings.twilio_whatsapp_from


class _Params(dict[str, list[str]]):
    """Form fields by name, as RequestValidator reads them: `getall` is one lookup, so checking
    a signature is linear in the size of the form (a MultiDict's `getlist` scans every field,
    which made a 20,000-field form take seconds)."""

    def getall(self, name: str) -> list[str]:
        return self[name]


def parse_form(body: bytes) -> tuple[Form, _Params]:
    """A urlencoded body as a form and as the validator's fields; 400 past MAX_FORM_FIELDS."""
    if body.count(b"&") >= MAX_FORM_FIELDS:
        raise HTTPException(413, f"more than {MAX_FORM_FIELDS} form fields")
    pairs = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True,
                      max_num_fields=MAX_FORM_FIELDS)
    params = _Params()
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return ImmutableMultiDict(pairs), params


def signature_matches(account: TwilioAccount, url: str, params: _Params, signature: str) -> bool:
    """Twilio's own check (RequestValidator), on fields it reads in constant time each."""
    return bool(RequestValidator(account.auth_token).validate(url, params, signature))


async def signed_form(request: Request, account: TwilioAccount, path: str) -> Form:
    """The form Twilio posted; 403 when X-Twilio-Signature is missing, malformed (before the body
    is read) or does not match (checked in a thread: the event loop keeps serving)."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not _SIGNATURE.fullmatch(signature):
        log.warning("Twilio webhook %s refused: %s signature", path, "malformed" if signature else "missing")
        raise HTTPException(403, "invalid Twilio signature")
    form, params = parse_form(await request.body())
    # Twilio signs the URL it called (PUBLIC_URL + path), not the one a proxy hands us.
    url = account.public_url + path + (f"?{request.url.query}" if request.url.query else "")
    if not await asyncio.to_thread(signature_matches, account, url, params, signature):
        log.warning("Twilio webhook %s refused: forged signature", path)
        raise HTTPException(403, "invalid Twilio signature")
    return form


def required(form: Form, *names: str) -> list[str]:
    """The values of fields that must be present; 400 when one is missing."""
    values = [form.get(name, "").strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise HTTPException(400, f"missing {', '.join(missing)}")
    return values


def media_refs(form: Form) -> tuple[str, ...]:
    """The MediaUrlN of a message: Twilio-hosted references, not the files."""
    count = form.get("NumMedia", "0")
    # ASCII digits only: "²".isdigit() is True and int("²") raises.
    total = min(int(count[:3]), MAX_MEDIA) if count.isascii() and count.isdigit() else MAX_MEDIA
    urls = (form.get(f"MediaUrl{index}", "").strip() for index in range(total))
    return tuple(url for url in urls if url)


async def accept(request: Request, inbound: InboundMessage) -> Response:
    """Commit the message, then answer Twilio at once with empty TwiML."""
    await request.app.state.conversations.accept(inbound)
    return Response(EMPTY_TWIML, media_type="text/xml")


def add_status_route(router: APIRouter, account: TwilioAccount) -> None:
    """`POST /webhooks/twilio/status`: delivery reports of messages sent by either channel."""

    @router.post(STATUS_PATH, openapi_extra=FORM_SCHEMA)
    async def status(request: Request) -> Response:
        form = await signed_form(request, account, STATUS_PATH)
        sid, state = required(form, "MessageSid", "MessageStatus")
        if state in ("failed", "undelivered"):
            log.warning("Twilio message %s %s (error %s)", clean_for_log(sid, 64), clean_for_log(state, 32),
                        clean_for_log(form.get("ErrorCode", "?"), 16))
        known = await asyncio.to_thread(request.app.state.outbox.record_delivery, sid, state)
        if not known:  # an earlier part of a split reply, or a message sent by another system
            log.debug("status %s for unknown message %s", state, sid)
        return Response(status_code=200)


class TwilioSender:
    """Sends texts with Twilio's Messages API, in the parts `split` cuts them into."""

    def __init__(
        self, channel: str, account: TwilioAccount, sender: str, address: Callable[[str], str],
        split: Callable[[str], list[str]],
    ) -> None:
        self.channel = channel
        self.messages = account.rest_client().messages
        # A Messaging Service SID (MG...) picks the sender number itself.
        self.origin = {"messaging_service_sid" if sender.startswith("MG") else "from_": sender}
        self.address = address
        self.split = split
        self.status_callback = account.public_url + STATUS_PATH
        self._progress: dict[tuple[str, tuple[str, ...]], int] = {}

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """Send the text (quick-reply buttons are already spelled out in it); the last part's SID."""
        return await self.send_parts(recipient, self.split(message.text))

    def sent(self, body: str) -> None:
        """Called after each part left (metrics)."""

    async def send_parts(self, recipient: str, parts: list[str]) -> str | None:
        """Send each part in order; the SID of the last. A retry resumes after the parts sent."""
        key = (recipient, tuple(parts))
        last: str | None = None
        for index in range(self._progress.get(key, 0), len(parts)):
            last = await self.create(recipient, parts[index])
            self.sent(parts[index])
            self._progress[key] = index + 1
            while len(self._progress) > MAX_REMEMBERED_SENDS:
                del self._progress[next(iter(self._progress))]
        self._progress.pop(key, None)
        return last

    async def create(self, recipient: str, body: str) -> str | None:
        """One Messages API call; its SID. Raise DeliveryError, retryable when trying again can help."""
        return await self._create(to=self.address(recipient), body=body)

    async def create_template(self, recipient: str, content_sid: str, values: dict[str, str]) -> str | None:
        """One Messages API call sending an approved template (Content API) with its variables."""
        return await self._create(to=self.address(recipient), content_sid=content_sid,
                                  content_variables=json.dumps(values))

    async def _create(self, **fields: str) -> str | None:
        try:
            message = await asyncio.to_thread(  # the twilio client blocks
                self.messages.create, status_callback=self.status_callback, **fields, **self.origin,
            )
        except TwilioRestException as error:
            retryable = error.status >= 500 or error.status == 429
            raise DeliveryError(f"Twilio answered {error.status} (error {error.code}): {error.msg}",
                                retryable) from error
        except RequestException as error:  # connection refused, reset, timeout
            raise DeliveryError(f"Twilio unreachable: {type(error).__name__}: {error}") from error
        except (TwilioException, ValueError) as error:  # an answer that is not a Message
            # Retried: a reply sent twice costs less than an emergency reply never sent.
            raise DeliveryError(f"unexpected answer from Twilio: {error}") from error
        return message.sid
