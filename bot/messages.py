"""What a channel hands to the core, and what the core hands back."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.storage.models import utcnow

# The columns that hold them (bot/models.py).
MAX_SENDER_CHARS = 128
MAX_PROVIDER_ID_CHARS = 128
MAX_CHANNEL_CHARS = 32
MAX_MEDIA_ITEMS = 10
MAX_MEDIA_CHARS = 1000
# What a channel stores for a sticker (its picture cannot be read): an operator sees it, and a
# chat of nothing else is a silent one (bot/triage/contacts.py).
STICKER_TEXT = "[sticker]"
# A message says when it was received; a clock that far off is replaced by the server's.
RECEIVED_AT_SLACK = timedelta(days=7)
# NUL and the other C0 controls but tab and newline, C1 controls and lone surrogates: none is
# text a reporter typed, and PostgreSQL refuses NUL and surrogates outright.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class InvalidMessage(ValueError):
    """A provider payload that cannot be a message (an empty sender, an id too long, ...)."""


def clean_text(text: str) -> str:
    """Text as it is stored: control characters and lone surrogates removed."""
    return _NOT_TEXT.sub("", text)


def _identifier(value: str, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidMessage(f"{what} is empty")
    if len(value) > limit:
        raise InvalidMessage(f"{what} is longer than {limit} characters")
    if _NOT_TEXT.search(value):
        raise InvalidMessage(f"{what} holds control characters")
    return value


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

    def __post_init__(self) -> None:
        """Checked at the edge: every channel builds one, so none stores what a column cannot hold."""
        _identifier(self.channel, "channel", MAX_CHANNEL_CHARS)
        _identifier(self.sender_id, "sender", MAX_SENDER_CHARS)
        if self.provider_message_id is not None:
            _identifier(self.provider_message_id, "message id", MAX_PROVIDER_ID_CHARS)
        if not isinstance(self.text, str):
            raise InvalidMessage("text is not text")
        object.__setattr__(self, "text", clean_text(self.text))
        if (self.latitude is None) != (self.longitude is None):
            raise InvalidMessage("a point needs both latitude and longitude")
        if self.latitude is not None and self.longitude is not None and not (
            math.isfinite(self.latitude) and math.isfinite(self.longitude)
            and -90 <= self.latitude <= 90 and -180 <= self.longitude <= 180
        ):
            raise InvalidMessage("latitude or longitude out of range")
        if len(self.media) > MAX_MEDIA_ITEMS or any(
            not isinstance(m, str) or len(m) > MAX_MEDIA_CHARS or _NOT_TEXT.search(m) for m in self.media
        ):
            raise InvalidMessage("media references are not valid")
        moment = self.received_at if self.received_at.tzinfo else self.received_at.replace(tzinfo=UTC)
        if abs(moment - utcnow()) > RECEIVED_AT_SLACK:
            # A phone with a wrong clock must not lose a report: the server's time stands in.
            object.__setattr__(self, "received_at", utcnow())

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
    """An inbound message stored (or recognised as a retry of one already stored, or as the same
    text again from the same sender, counted on the first: `collapsed`)."""

    message_id: int
    conversation_id: int
    duplicate: bool
    collapsed: bool = False
