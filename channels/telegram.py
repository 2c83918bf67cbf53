"""Telegram through the Bot API: `POST /webhooks/telegram` in, python-telegram-bot's `Bot` out.

Inbound: Telegram POSTs each Update with the secret given to setWebhook in the
`X-Telegram-Bot-Api-Secret-Token` header (or `sigap telegram poll` fetches them with getUpdates).
Reporters are kept by chat id; the update id is the provider message id, so a redelivered
update is recognised. Outbound: sendMessage, with a reply keyboard for the bot's questions.
Rasa's own connector checks no secret and crashes on non-text updates; this one does neither.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import secrets
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from telegram import Bot, KeyboardButton, Message, ReplyKeyboardMarkup, Update
from telegram.constants import MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.delivery.outbox import DeliveryError, Outbox
from bot.messages import STICKER_TEXT, InboundMessage, OutboundMessage
from bot.settings import ConfigurationError, Settings
from channels import json_limits
from channels.sms_text import split_text

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from channels import ChannelPlugin

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The only update kinds Sigap reads (setWebhook and getUpdates ask for no others).
ALLOWED_UPDATES = ("message", "edited_message")
# Telegram's commands as Rasa intent payloads (the NLU maps "/greet" straight to its intent).
# The bot's menu of these commands is set once with BotFather (/setcommands).
COMMANDS = {"/start": "/greet", "/help": "/greet", "/status": "/ask_status", "/cancel": "/cancel_report"}
LOCATION_BUTTON = "📍 Kirim lokasi / Share location"
UNREADABLE_TEXT = "[Telegram message that could not be read]"
log = logging.getLogger(__name__)


def secret_value(secret: SecretStr | None) -> str:
    """The text of an optional SecretStr ('' when unset)."""
    return secret.get_secret_value() if secret is not None else ""


def describe(error: TelegramError, token: str) -> str:
    """The error's message without the bot token (python-telegram-bot puts it in some)."""
    return error.message.replace(token, "<TELEGRAM_BOT_TOKEN>") if token else error.message


def make_bot(settings: Settings) -> Bot:
    """python-telegram-bot's Bot for TELEGRAM_BOT_TOKEN, at TELEGRAM_API_URL (tests: a local fake)."""
    return Bot(secret_value(settings.telegram_bot_token), base_url=settings.telegram_api_url)


# -- inbound -------------------------------------------------------------------------------
def to_inbound(update: Update) -> InboundMessage | None:
    """A message or edited message (live location) as an InboundMessage; None when nothing we use."""
    message = update.message or update.edited_message
    if message is None:
        return None
    text = message_text(message)
    latitude, longitude = point(message)
    media = media_refs(message)
    if not text and latitude is None and not media:
        log.debug("telegram update %s carries nothing Sigap reads", update.update_id)
        return None
    return InboundMessage(
        channel=CHANNEL, sender_id=str(message.chat.id), text=text,
        provider_message_id=str(update.update_id), latitude=latitude, longitude=longitude,
        media=media,
    )


def message_text(message: Message) -> str:
    """Text, a command as its intent payload, a caption, a venue's name and address."""
    if message.text:
        return command_payload(message.text.strip())
    if message.caption:
        return message.caption.strip()
    if message.venue:
        return f"{message.venue.title}, {message.venue.address}".strip(", ")
    if message.sticker:
        return STICKER_TEXT
    return ""


def command_payload(text: str) -> str:
    """`/start`, `/status@SigapBot` and the like as intent payloads; other text unchanged."""
    if not text.startswith("/"):
        return text
    command = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
    return COMMANDS.get(command, text)


def point(message: Message) -> tuple[float | None, float | None]:
    """A shared location (also a venue's, and each update of a live location)."""
    where = message.location
    if where is None:
        return None, None
    latitude, longitude = float(where.latitude), float(where.longitude)
    if not (math.isfinite(latitude) and math.isfinite(longitude)
            and -90 <= latitude <= 90 and -180 <= longitude <= 180):
        log.warning("telegram location %r ignored: not a valid point", (latitude, longitude))
        return None, None
    return latitude, longitude


def media_refs(message: Message) -> tuple[str, ...]:
    """`telegram:<file_id>` of a photo (its largest size), video, voice note, audio or file."""
    refs = []
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        refs.append(largest.file_id)
    for item in (message.video, message.video_note, message.voice, message.audio,
                 message.animation, message.document):
        if item is not None:
            refs.append(item.file_id)
    # A GIF arrives as both animation and document: one reference.
    return tuple(f"telegram:{file_id}" for file_id in dict.fromkeys(refs))


def secret_matches(given: str | None, expected: str) -> bool:
    """The secret-token header equals the configured secret (constant time)."""
    if not given or not expected:
        return False
    return secrets.compare_digest(given.encode(), expected.encode())


class NotAnUpdate(ValueError):
    """A webhook body that is not a Telegram Update."""


def parse_update(body: bytes) -> Any:
    """An update's JSON, within bounds (depth, numbers, dates: python-telegram-bot turns every
    `*date` field into a datetime and would overflow)."""
    data = json_limits.loads(body)
    json_limits.check_dates(data)
    return data


def read_update(data: Any, bot: Bot) -> InboundMessage | None:
    """The InboundMessage in an Update's JSON; None when it carries nothing Sigap reads."""
    if not isinstance(data, dict) or type(data.get("update_id")) is not int:
        raise NotAnUpdate("no update_id")
    kind = next((kind for kind in ALLOWED_UPDATES if kind in data), None)
    if kind is None:  # other kinds are not even parsed: API changes there cannot break us
        return None
    raw = data[kind]
    chat = raw.get("chat") if isinstance(raw, dict) else None
    if not isinstance(chat, dict) or type(chat.get("id")) is not int:
        raise NotAnUpdate(f"{kind} without a chat")
    try:
        return to_inbound(Update.de_json({"update_id": data["update_id"], kind: raw}, bot))
    # What de_json raises for a field it does not expect (a Bot API change, a malformed part):
    # the message still reaches an operator, with the words it has.
    except (TypeError, KeyError, ValueError, AttributeError) as error:
        log.error("telegram: update %s not readable by python-telegram-bot: %r", data["update_id"], error)
        text = raw.get("text") or raw.get("caption")
        return InboundMessage(
            channel=CHANNEL, sender_id=str(chat["id"]), provider_message_id=str(data["update_id"]),
            text=command_payload(text.strip()) if isinstance(text, str) else UNREADABLE_TEXT,
        )


# The parts of an Update that Sigap reads, for the OpenAPI schema (docs, schemathesis).
_CHAT = {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}
_MESSAGE = {"type": "object", "required": ["message_id", "date", "chat"], "properties": {
    "message_id": {"type": "integer"}, "date": {"type": "integer"}, "chat": _CHAT,
    "text": {"type": "string"}, "caption": {"type": "string"},
    "location": {"type": "object", "properties": {"latitude": {"type": "number"},
                                                  "longitude": {"type": "number"}}}}}
UPDATE_SCHEMA = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["update_id"],
    "properties": {"update_id": {"type": "integer"}, "message": _MESSAGE, "edited_message": _MESSAGE}}}}}}


def _router(bot: Bot, secret: str) -> APIRouter:
    router = APIRouter()

    @router.post(WEBHOOK_PATH, openapi_extra=UPDATE_SCHEMA)
    async def webhook(request: Request) -> Response:
        """Check the secret, store the message, answer 200; the turn runs in the background."""
        if not secret_matches(request.headers.get(SECRET_HEADER), secret):
            log.warning("telegram webhook refused: %s secret token",
                        "wrong" if SECRET_HEADER in request.headers else "missing")
            return Response(status_code=403)
        try:
            inbound = read_update(parse_update(await request.body()), bot)
        except ValueError as error:  # not JSON within bounds, or not an Update (InvalidMessage too)
            log.warning("telegram: webhook body refused: %s", error)
            return JSONResponse({"detail": "not a readable Telegram update"}, 400)
        if inbound is not None:
            await request.app.state.conversations.accept(inbound)
        return Response(status_code=200)

    return router


# -- outbound ------------------------------------------------------------------------------
def reply_markup(message: OutboundMessage) -> ReplyKeyboardMarkup | None:
    """A one-time keyboard: a location button when the bot asks where, the answer buttons.

    A tapped button sends its title as text ("Ya"), which the NLU reads like a typed answer.
    No keyboard is removed afterwards: a turn may send a plain message after its question.
    """
    rows: list[list[KeyboardButton]] = []
    if message.custom.get("ask") == "location":
        rows.append([KeyboardButton(LOCATION_BUTTON, request_location=True)])
    titles = [str(button["title"]) for button in message.buttons if button.get("title")]
    if titles:
        rows.append([KeyboardButton(title) for title in titles])
    if not rows:
        return None
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)


def _fits_telegram(text: str) -> bool:
    return len(text) <= MessageLimit.MAX_TEXT_LENGTH


class TelegramSender:
    """Sends replies with sendMessage; quiet ones without a sound (someone may be hiding)."""

    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """One message to a chat; its message id. Raise DeliveryError."""
        token = self.bot.token
        # Over Telegram's limit, the text goes in parts cut between sentences; the keyboard
        # comes with the last. A retry after a part failed sends the earlier parts again.
        parts = split_text(message.text, _fits_telegram)
        try:
            await self.bot.initialize()  # once: opens the HTTP client, checks the token (getMe)
            for index, part in enumerate(parts):
                last = index == len(parts) - 1
                sent = await self.bot.send_message(
                    chat_id=recipient, text=part, reply_markup=reply_markup(message) if last else None,
                    disable_notification=bool(message.custom.get("quiet")),
                )
        # Order matters: BadRequest is a NetworkError in python-telegram-bot.
        except (Forbidden, BadRequest, InvalidToken, ChatMigrated) as error:
            # Blocked by the reporter, a deleted chat, a bad token: trying again cannot help.
            raise DeliveryError(f"Telegram refused: {describe(error, token)}", retryable=False) from error
        except (RetryAfter, NetworkError) as error:  # flood limit, timeout, 5xx, no connection
            raise DeliveryError(f"Telegram unavailable: {describe(error, token)}") from error
        except TelegramError as error:  # anything else: a duplicate costs less than a loss
            raise DeliveryError(f"Telegram error: {describe(error, token)}") from error
        return str(sent.message_id)


# -- wiring --------------------------------------------------------------------------------
def plugin(settings: Settings) -> ChannelPlugin | None:
    """The Telegram channel when TELEGRAM_BOT_TOKEN is set; the webhook then needs its secret."""
    from channels import ChannelPlugin

    if not secret_value(settings.telegram_bot_token):
        return None
    secret = secret_value(settings.telegram_webhook_secret)
    if not secret:
        raise ConfigurationError(
            "TELEGRAM_BOT_TOKEN needs TELEGRAM_WEBHOOK_SECRET for the webhook; when "
            "`sigap telegram poll` takes the updates instead, leave the token unset for `sigap serve`")
    bot = make_bot(settings)

    async def close_bot(_conversations: Conversations, _outbox: Outbox) -> None:
        """Hold the bot for the app's lifetime and close its HTTP connections at the end."""
        try:
            await asyncio.Event().wait()
        finally:
            await bot.shutdown()

    return ChannelPlugin(CHANNEL, _router(bot, secret), TelegramSender(bot), close_bot)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`sigap telegram set-webhook [--url URL]` and `sigap telegram poll`."""
    from channels.telegram_cli import add_commands as add

    add(commands)
