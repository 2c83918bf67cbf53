"""Channel adapters. Each translates a provider's payloads; nothing about emergencies here.

Adding a channel means adding a module and its name in `CHANNEL_MODULES`; bot/ stays untouched:
this package is registered under the entry point group `sigap.channels` (pyproject.toml), and
the core calls `plugins` and `add_commands` below.
"""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType

from bot.plugins import ChannelPlugin
from bot.settings import Settings

__all__ = ["CHANNEL_MODULES", "ChannelPlugin", "add_commands", "plugins"]

CHANNEL_MODULES: tuple[str, ...] = (
    "rest", "telegram", "twilio_sms", "twilio_whatsapp", "sms_gateway", "smpp",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"channels.{name}") for name in CHANNEL_MODULES]


def plugins(settings: Settings) -> list[ChannelPlugin]:
    """The channels this process serves (a push channel only when it is configured)."""
    found = [module.plugin(settings) for module in _modules()]
    return [plugin for plugin in found if plugin is not None]


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Let channels add their own `sigap` subcommands (e.g. `sigap telegram set-webhook`)."""
    for module in _modules():
        register = getattr(module, "add_commands", None)
        if register:
            register(commands)
