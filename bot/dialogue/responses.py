"""Choose and fill a domain response the way Rasa does."""

from __future__ import annotations

import string
from typing import Any


class MissingResponse(KeyError):
    """The domain has no response of that name."""


def choose_variant(
    variants: list[dict[str, Any]], slots: dict[str, Any], channel: str
) -> dict[str, Any]:
    """Rasa's order: conditional for the channel, unconditional for the channel,
    conditional without channel, unconditional."""
    for want_channel, want_condition in ((True, True), (True, False), (False, True), (False, False)):
        for variant in variants:
            has_channel = "channel" in variant
            if has_channel != want_channel or (has_channel and variant["channel"] != channel):
                continue
            condition = variant.get("condition")
            if want_condition and condition and _holds(condition, slots):
                return variant
            if not want_condition and not condition:
                return variant
    raise MissingResponse("no variant fits")


def _holds(conditions: list[dict[str, Any]], slots: dict[str, Any]) -> bool:
    return all(c.get("type") == "slot" and slots.get(c["name"]) == c["value"] for c in conditions)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: dict[str, Any]) -> str:
    """Fill `{name}` placeholders; unknown names stay as they are (Rasa does the same)."""
    return string.Formatter().vformat(template, (), _Blank(values))


def render(
    responses: dict[str, list[dict[str, Any]]],
    name: str,
    slots: dict[str, Any],
    channel: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A response as a message dict (`text`, optional `buttons`), filled from slots and extras."""
    if name not in responses:
        raise MissingResponse(name)
    variant = choose_variant(responses[name], slots, channel)
    values = {k: v for k, v in slots.items() if v is not None}
    values.update(extra or {})
    message: dict[str, Any] = {"text": fill(variant.get("text", ""), values)}
    if variant.get("buttons"):
        message["buttons"] = variant["buttons"]
    if variant.get("custom"):
        message["custom"] = variant["custom"]
    return message
