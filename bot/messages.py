"""What a channel hands to the core, and what the core hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.models import utcnow


@dataclass(frozen=True)
class InboundMessage:
    """A reporter's message, already translated from the provider's payload."""

    channel: str
    sender_id: str
    text: str
    provider_message_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    media: tuple[str, ...] = ()
    received_at: datetime = field(default_factory=utcnow)

    @property
    def gps(self) -> tuple[float, float] | None:
        """The shared GPS point, if any."""
        if self.latitude is None or self.longitude is None:
            return None
        return (self.latitude, self.longitude)


@dataclass(frozen=True)
class OutboundMessage:
    """A message for a reporter: text plus optional quick replies and channel hints."""

    text: str
    buttons: tuple[dict[str, Any], ...] = ()
    custom: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, reply: dict[str, Any]) -> OutboundMessage:
        """From an engine reply dict."""
        return cls(reply["text"], tuple(reply.get("buttons") or ()), dict(reply.get("custom") or {}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, Rasa's message shape."""
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = list(self.buttons)
        if self.custom:
            data["custom"] = self.custom
        return data


@dataclass(frozen=True)
class Accepted:
    """An inbound message stored (or recognised as a retry of one already stored)."""

    message_id: int
    conversation_id: int
    duplicate: bool
