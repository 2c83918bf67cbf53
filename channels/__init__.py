"""Channel adapters. Each translates a provider's payloads; nothing about emergencies here.

Adding a channel means adding a module and one line in `plugins`; bot/ stays untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from bot.outbox import ChannelSender
from bot.settings import Settings


@dataclass(frozen=True)
class ChannelPlugin:
    """A channel's webhook routes and, for push channels, its sender."""

    name: str
    router: APIRouter
    sender: ChannelSender | None = None


def plugins(settings: Settings) -> list[ChannelPlugin]:
    """The channels this process serves (a push channel only when it is configured)."""
    from channels import rest

    return [rest.plugin(settings)]
