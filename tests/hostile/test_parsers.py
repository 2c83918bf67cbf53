"""Each channel's parser, from raw bytes: an InboundMessage or a clear rejection, nothing else."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from telegram import Bot

from bot.messages import InboundMessage, InvalidMessage
from channels import json_limits, smpp_pdu, twilio_sms, twilio_whatsapp
from channels.rest import RestMessage
from channels.rest import to_inbound as rest_inbound
from channels.sms_gateway import WebhookEnvelope
from channels.sms_gateway import to_inbound as gateway_inbound
from channels.telegram import parse_update, read_update
from channels.twilio_common import parse_form

BOT = Bot("123456:TEST-token-never-used")
RUNS = settings(max_examples=300, deadline=None, database=None)

# JSON values of every kind, deep and wide, with hostile leaves.
LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                   st.text(max_size=40), st.sampled_from(["\ud800", "\x00", "9" * 40, "", "+62812"]))
VALUES = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=30)


def _fields(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the keys a parser looks for, each holding anything."""
    return st.fixed_dictionaries({}, optional={key: VALUES for key in keys})


def _encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _outcome(parse: Any, body: bytes, rejections: tuple[type[BaseException], ...]) -> None:
    try:
        result = parse(body)
    except rejections:
        return
    assert result is None or isinstance(result, InboundMessage)


def _rest(body: bytes) -> InboundMessage:
    return rest_inbound(RestMessage.model_validate_json(body))


@RUNS
@given(st.one_of(st.binary(max_size=300), _fields(["sender", "message", "metadata"]).map(_encode)))
def test_rest_bodies(body: bytes) -> None:
    _outcome(_rest, body, (ValidationError, InvalidMessage))


def _telegram(body: bytes) -> InboundMessage | None:
    return read_update(parse_update(body), BOT)


MESSAGE = _fields(["message_id", "date", "chat", "text", "caption", "location", "photo", "venue",
                   "edit_date", "sticker", "reply_to_message", "forward_origin"])


@RUNS
@given(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda update_id, message: {"update_id": update_id, "message": message},
              st.integers(), MESSAGE).map(_encode),
    st.builds(lambda chat, message: {"update_id": 5, "message": {**message, "chat": {"id": chat}}},
              st.integers(), MESSAGE).map(_encode),
))
def test_telegram_updates(body: bytes) -> None:
    _outcome(_telegram, body, (ValueError,))  # UnsafeJson, NotAnUpdate, InvalidMessage


FORM_KEYS = ["From", "To", "Body", "MessageSid", "NumMedia", "MediaUrl0", "MediaContentType0",
             "Latitude", "Longitude", "ProfileName"]


@RUNS
@given(st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.sampled_from(FORM_KEYS), st.text(max_size=30)).map(
        lambda form: "&".join(f"{k}={v}" for k, v in form.items()).encode("utf-8", "surrogatepass")),
))
def test_twilio_forms(body: bytes) -> None:
    for to_inbound in (twilio_sms.to_inbound, twilio_whatsapp.to_inbound):
        _outcome(lambda raw, parse=to_inbound: parse(parse_form(raw)[0]), body,
                 (HTTPException, InvalidMessage))


def _gateway(body: bytes) -> InboundMessage | None:
    envelope = WebhookEnvelope.model_validate(json_limits.loads(body))
    return gateway_inbound(envelope.payload) if envelope.event == "sms:received" else None


@RUNS
@given(st.one_of(
    st.binary(max_size=300),
    st.builds(lambda payload: {"event": "sms:received", "payload": payload},
              _fields(["messageId", "message", "sender", "phoneNumber", "receivedAt"])).map(_encode),
))
def test_gateway_webhooks(body: bytes) -> None:
    _outcome(_gateway, body, (ValidationError, ValueError))


@RUNS
@given(st.binary(max_size=300))
def test_smpp_deliver_sm_bodies(body: bytes) -> None:
    try:
        message = smpp_pdu.ShortMessage.decode(body)
        _concat, data = smpp_pdu.concat_info(message)
        assert isinstance(smpp_pdu.decode_text(message.data_coding, data), str)
    except smpp_pdu.PduError:
        pass
