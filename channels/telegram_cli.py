"""`sigap telegram set-webhook`, and `sigap telegram poll` for a machine without a public URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot.settings import Settings, get_settings
from channels.telegram import (
    ALLOWED_UPDATES,
    WEBHOOK_PATH,
    TelegramSender,
    describe,
    make_bot,
    secret_value,
    to_inbound,
)

if TYPE_CHECKING:
    from bot.conversations import Conversations

log = logging.getLogger(__name__)

# getUpdates waits up to this long for an update (Telegram's long polling; 0 = short polling).
LONG_POLL_SECONDS = 30
# Pause after a failed getUpdates before asking again.
RETRY_SECONDS = 5.0
# Telegram's rule for setWebhook's secret_token.
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `sigap telegram set-webhook [--url URL]` and `sigap telegram poll`."""
    telegram = commands.add_parser("telegram", help="the Telegram bot").add_subparsers(
        required=True, metavar="TELEGRAM_COMMAND")
    webhook = telegram.add_parser("set-webhook", help="have Telegram POST updates to this app")
    webhook.add_argument("--url", help=f"the webhook URL (default: PUBLIC_URL{WEBHOOK_PATH})")
    webhook.set_defaults(handler=_set_webhook)
    poll_command = telegram.add_parser(
        "poll", help="fetch updates by long polling and answer them (no public URL needed)")
    poll_command.set_defaults(handler=_poll)


async def set_webhook(settings: Settings, url: str) -> str:
    """setWebhook with the secret token and the update kinds Sigap reads; the bot's @username."""
    async with make_bot(settings) as bot:  # getMe first: a wrong token fails here
        await bot.set_webhook(url, secret_token=secret_value(settings.telegram_webhook_secret),
                              allowed_updates=list(ALLOWED_UPDATES))
        return bot.username


def _set_webhook(args: argparse.Namespace) -> int:
    settings = get_settings()
    if not secret_value(settings.telegram_bot_token):
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if not SECRET_FORMAT.fullmatch(secret_value(settings.telegram_webhook_secret)):
        print("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -", file=sys.stderr)
        return 2
    url = args.url or settings.public_url.rstrip("/") + WEBHOOK_PATH
    try:
        username = asyncio.run(set_webhook(settings, url))
    except TelegramError as error:
        reason = describe(error, secret_value(settings.telegram_bot_token))
        print(f"Telegram refused or is unreachable: {reason}", file=sys.stderr)
        return 1
    print(f"@{username}: Telegram now posts updates to {url}")
    return 0


async def receive_updates(bot: Bot, conversations: Conversations, timeout: int = LONG_POLL_SECONDS) -> None:
    """getUpdates until cancelled; each update is stored before the next call confirms it."""
    offset: int | None = None
    while True:
        try:
            updates = await bot.get_updates(offset=offset, timeout=timeout,
                                            allowed_updates=list(ALLOWED_UPDATES))
        except (BadRequest, Conflict, InvalidToken):  # a webhook was set again, a wrong token
            raise
        except (RetryAfter, NetworkError) as error:  # timeouts, 5xx, no connection
            log.warning("telegram: getUpdates failed, retrying in %.0f s: %s", RETRY_SECONDS,
                        describe(error, bot.token))
            await asyncio.sleep(RETRY_SECONDS)
            continue
        except (TypeError, KeyError, ValueError, AttributeError) as error:
            # python-telegram-bot cannot read an update (a Bot API change): unconfirmed, Telegram
            # keeps it for 24 h; the webhook (`sigap serve`) reads such updates field by field.
            log.error("telegram: getUpdates answer not readable (upgrade python-telegram-bot?): %r", error)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        for update in updates:
            try:
                inbound = to_inbound(update)
            except (ValueError, TypeError, AttributeError) as error:  # never stall on one update
                log.warning("telegram: update %s not translatable: %r", update.update_id, error)
                inbound = None
            if inbound is not None:
                try:
                    await conversations.accept(inbound)
                except Exception:  # not confirmed: Telegram hands it out again
                    log.exception("telegram: storing update %s failed", update.update_id)
                    await asyncio.sleep(RETRY_SECONDS)
                    break
            offset = update.update_id + 1


async def poll(settings: Settings, timeout: int = LONG_POLL_SECONDS) -> None:
    """Answer Telegram by long polling until cancelled: the core as `sigap serve` runs it."""
    # Imported here: every `sigap` command builds the parser, only this one needs the core.
    from bot.runtime import running_core

    bot = make_bot(settings)
    try:
        async with running_core(settings, [TelegramSender(bot)]) as core:
            await bot.initialize()
            # Telegram refuses getUpdates while a webhook is set; python-telegram-bot's own
            # run_polling deletes it as well. Pending updates are kept.
            await bot.delete_webhook()
            log.info("telegram: @%s polling for updates", bot.username)
            await receive_updates(bot, core.conversations, timeout)
    finally:
        await bot.shutdown()


def _poll(_args: argparse.Namespace) -> int:
    from nlu.model import ModelMissing, model_name

    settings = get_settings()
    if not secret_value(settings.telegram_bot_token):
        print("TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        return 2
    if not (settings.models_dir / model_name(settings.project_dir)).exists():
        print(ModelMissing.__doc__, "Run `sigap train` first.", file=sys.stderr)
        return 2
    try:
        asyncio.run(poll(settings))
    except (Conflict, InvalidToken, BadRequest) as error:
        reason = describe(error, secret_value(settings.telegram_bot_token))
        print(f"Telegram refused: {reason}", file=sys.stderr)
        return 1
    return 0
