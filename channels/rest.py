"""Rasa's REST channel: `POST /webhooks/rest/webhook` with sender, message and metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.messages import InboundMessage
from bot.settings import Settings

if TYPE_CHECKING:
    from channels import ChannelPlugin

CHANNEL = "rest"
router = APIRouter()


class GpsPoint(BaseModel):
    """A shared location."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class RestMetadata(BaseModel):
    """Rasa metadata; Sigap reads `location` and `message_id` and ignores the rest."""

    model_config = ConfigDict(extra="allow")
    location: GpsPoint | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=128)


class RestMessage(BaseModel):
    """A REST channel message."""

    model_config = ConfigDict(extra="ignore")
    sender: str = Field(min_length=1, max_length=128)
    message: str = Field(default="", max_length=4096)
    metadata: RestMetadata = Field(default_factory=RestMetadata)

    @model_validator(mode="after")
    def _has_content(self) -> RestMessage:
        if not self.message.strip() and self.metadata.location is None:
            raise ValueError("a message needs text or a location")
        return self


def plugin(_settings: Settings) -> ChannelPlugin:
    """The REST channel: a pull channel, replies come back in the HTTP response."""
    from channels import ChannelPlugin

    return ChannelPlugin(CHANNEL, router)


def to_inbound(body: RestMessage) -> InboundMessage:
    """Translate a REST body into an InboundMessage."""
    point = body.metadata.location
    return InboundMessage(
        channel=CHANNEL,
        sender_id=body.sender,
        text=body.message.strip(),
        provider_message_id=body.metadata.message_id,
        latitude=point.latitude if point else None,
        longitude=point.longitude if point else None,
    )


@router.post("/webhooks/rest/webhook")
async def webhook(request: Request) -> list[dict[str, Any]]:
    """Store, process and answer; notifications waiting for this reporter come first.

    The body is JSON whatever the Content-Type says, as in Rasa: `curl -d '{...}'` sends
    JSON labelled as a form and must work."""
    try:
        body = RestMessage.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    conversations = request.app.state.conversations
    inbound = to_inbound(body)
    accepted = await conversations.receive(inbound)
    replies = await conversations.process(accepted)
    waiting = conversations.take_notifications(accepted.conversation_id)
    return [{"recipient_id": body.sender, **m.to_dict()} for m in [*waiting, *replies]]
