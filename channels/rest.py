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
_SENDER = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"
# The most a message may hold (MAX_MESSAGE_CHARS of the settings may be lower).
MAX_MESSAGE_CHARS = 4096
router = APIRouter()


class GpsPoint(BaseModel):
    """A shared location: a real point on earth (no NaN, no infinity)."""

    model_config = ConfigDict(allow_inf_nan=False)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class RestMetadata(BaseModel):
    """Rasa metadata; Sigap reads `location` and `message_id` and ignores the rest."""

    model_config = ConfigDict(extra="ignore")
    location: GpsPoint | None = None
    message_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[\x20-\x7e]+$")


class RestMessage(BaseModel):
    """A REST channel message."""

    model_config = ConfigDict(extra="ignore")
    # Printable, and not only blanks.
    sender: str = Field(min_length=1, max_length=128, pattern=_SENDER)
    message: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    metadata: RestMetadata = Field(default_factory=RestMetadata)

    @model_validator(mode="after")
    def _has_content(self) -> RestMessage:
        if not self.message.strip() and self.metadata.location is None:
            raise ValueError("a message needs text or a location")
        return self


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads the model itself (so schemathesis and the
    docs know what to send)."""
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline_schema(model)}}}}


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON Schema with its `$defs` written in place (no document to refer to)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    inlined: dict[str, Any] = resolve(schema)
    return inlined


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


@router.post("/webhooks/rest/webhook", openapi_extra=json_body(RestMessage))
async def webhook(request: Request) -> list[dict[str, Any]]:
    """Store, process and answer; notifications waiting for this reporter come first.

    The body is JSON whatever the Content-Type says, as in Rasa: `curl -d '{...}'` sends
    JSON labelled as a form and must work."""
    try:
        body = RestMessage.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    limit = request.app.state.services.settings.max_message_chars
    if len(body.message) > limit:
        raise RequestValidationError([{"loc": ("body", "message"), "type": "string_too_long",
                                       "msg": f"at most {limit} characters"}])
    conversations = request.app.state.conversations
    inbound = to_inbound(body)
    accepted = await conversations.receive(inbound)
    replies = await conversations.process(accepted)
    waiting = await conversations.take_notifications(accepted.conversation_id)
    return [{"recipient_id": body.sender, **m.to_dict()} for m in [*waiting, *replies]]
