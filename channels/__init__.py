"""Channel adapters. Each translates a provider's payloads; nothing about emergencies here.

Adding a channel means adding a module and its name in `CHANNEL_MODULES`; bot/ stays untouched.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from bot.outbox import ChannelSender, Outbox
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.conversations import Conversations


@dataclass(frozen=True)
class ChannelPlugin:
    """A channel's webhook routes and, for push channels, its sender."""

    name: str
    router: APIRouter
    sender: ChannelSender | None = None
    # A task the channel runs beside the app (an SMPP link, long polling), until cancelled.
    background: Callable[[Conversations, Outbox], Coroutine[Any, Any, None]] | None = None


CHANNEL_MODULES: tuple[str, ...] = (
    "rest", "telegram", "twilio_sms", "twilio_whatsapp", "sms_gateway", "smpp",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"channels.{name}") for name in CHANNEL_MODULES]


def plugins(settings: Settings) -> list[ChannelPlugin]:
    """The channels this process serves (a push channel only when it is configured)."""
    found = [module.plugin(settings) for module in _modules()]
    served = [plugin for plugin in found if plugin is not None]
    names = [plugin.name for plugin in served]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"more than one adapter configured for channel(s) {twice}: set SMS_PROVIDER")
    return served


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let channels add their own `sigap` subcommands (e.g. `sigap telegram set-webhook`)."""
    for module in _modules():
        register = getattr(module, "add_commands", None)
        if register:
            register(commands)
