"""What a channel offers the core, and how the core finds the installed channels.

bot/ never imports a channel: the channel package registers itself under the entry point group
`sigap.channels` (pyproject.toml), and the app is handed what that registry returns. A new
channel touches neither bot/ nor nlu/ nor actions/.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter

from bot.delivery.outbox import ChannelSender, Outbox
from bot.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    from bot.conversations import Conversations

ENTRY_POINT_GROUP = "sigap.channels"


@dataclass(frozen=True)
class ChannelPlugin:
    """A channel's webhook routes and, for push channels, its sender."""

    name: str
    router: APIRouter
    sender: ChannelSender | None = None
    # A task the channel runs beside the app (an SMPP link, long polling), until cancelled.
    background: Callable[[Conversations, Outbox], Coroutine[Any, Any, None]] | None = None
    # Whether an operator's reply fits one message of the channel (SMS: GSM-7, two segments).
    fits: Callable[[str], bool] | None = None


class ChannelRegistry(Protocol):
    """A set of channels: their plugins for the settings, and their `sigap` subcommands."""

    def plugins(self, settings: Settings) -> list[ChannelPlugin]:
        """The channels configured in `settings`."""

    def add_commands(self, commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
        """Add the channels' subcommands (`sigap telegram set-webhook`, ...)."""


def installed() -> list[ChannelRegistry]:
    """The channel registries installed with the project (entry point group sigap.channels)."""
    return [entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)]


def configured_plugins(
    settings: Settings, registries: list[ChannelRegistry] | None = None
) -> list[ChannelPlugin]:
    """Every configured channel; refused when two adapters claim the same channel ("sms")."""
    found = [plugin for registry in (registries if registries is not None else installed())
             for plugin in registry.plugins(settings)]
    names = [plugin.name for plugin in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigurationError(f"more than one adapter configured for channel(s) {twice}: set SMS_PROVIDER")
    return found
