"""Hostile input on every route: a clear 4xx, never a 500, never a stall, nothing half-written.

One test (or one parameter) per cause found by probing the running app, and more of each class.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.storage.models import Message, TicketEvent
from tests.channels import fake_twilio
from tests.channels.fake_telegram import SECRET
from tests.channels.fake_twilio import AUTH_TOKEN, WHATSAPP_FROM
from tests.conftest import API_TOKEN, RunningApp, eventually
from tests.e2e.conversation import Reporter, tickets
from tests.hostile.conftest import Fakes, stored

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PUBLIC_URL = "http://testserver"
WHATSAPP = "/webhooks/twilio/whatsapp"
GATEWAY = "/webhooks/sms-gateway"
TELEGRAM = "/webhooks/telegram"
REST = "/webhooks/rest/webhook"


def _post(app: RunningApp, path: str, content: bytes,
          headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(app.url + path, content=content, headers=headers or {}, timeout=30)


@contextmanager
def unchanged(app: RunningApp) -> Iterator[None]:
    """Nothing is stored from what the block sends (turns of earlier tests finish first)."""
    settle(app)
    before = stored(app)
    yield
    time.sleep(0.05)
    settle(app)
    assert stored(app) == before


def settle(app: RunningApp) -> None:
    """Every stored inbound message processed."""
    def done() -> bool:
        with app.services.db.session() as session:
            return not session.scalars(select(Message.id).where(
                Message.direction == "in", Message.processed_at.is_(None))).first()
    eventually(done, "earlier messages processed")


def _json_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    if response.status_code not in (403,):
        assert response.json()["detail"]  # a short reason, as JSON


def _one_ticket(app: RunningApp, client: httpx.Client) -> int:
    Reporter(client, f"victim-{time.monotonic_ns()}").say("tolong ada kebakaran di pasar weleri kendal")
    return tickets(app.services)[-1].id


def _inbound_texts(app: RunningApp, provider_id: str) -> list[str]:
    with app.services.db.session() as session:
        return list(session.scalars(select(Message.text).where(
            Message.direction == "in", Message.provider_message_id == provider_id)))


def _telegram(app: RunningApp, update: dict[str, Any] | bytes) -> httpx.Response:
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    return _post(app, TELEGRAM, body, {"X-Telegram-Bot-Api-Secret-Token": SECRET,
                                       "Content-Type": "application/json"})


def _update(**message: Any) -> dict[str, Any]:
    base = {"message_id": 1, "date": int(time.time()), "chat": {"id": 4242, "type": "private"}}
    return {"update_id": 777, "message": {**base, **message}}


def _gateway(app: RunningApp, fakes: Fakes, payload: dict[str, Any]) -> httpx.Response:
    body = fakes.gateway.webhook_body("sms:received", payload)
    return _post(app, GATEWAY, body, fakes.gateway.signed(body))


def _sms(**fields: Any) -> dict[str, Any]:
    return {"messageId": "abc123", "message": "tolong ada banjir", "sender": "+6281234567001",
            "receivedAt": "2026-12-02T08:00:00.000+07:00", **fields}


# -- 1. ids ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["9223372036854775808", "99999999999999999999999", "1_0", "0", "-1",
                                 "1e3", "%201", "01", "0x10", "１"])
def test_a_ticket_id_that_cannot_be_one_is_not_found(
    app: RunningApp, client: httpx.Client, raw: str
) -> None:
    ticket = _one_ticket(app, client)
    with unchanged(app):
        got = client.get(f"/api/tickets/{raw}", headers=AUTH)
        posted = client.post(f"/api/tickets/{raw}/events", json={"status": "en_route"}, headers=AUTH)
    assert got.status_code == 404 and posted.status_code == 404, (got.text, posted.text)
    assert next(t for t in tickets(app.services) if t.id == ticket).status == "new"


# -- 2, 3. numbers and text the JSON encoder cannot render ----------------------------------------
@pytest.mark.parametrize("body", [
    b'{"sender":"x","message":"api","metadata":{"location":{"latitude":NaN,"longitude":110}}}',
    b'{"sender":"x","message":"api","metadata":{"location":{"latitude":Infinity,"longitude":110}}}',
    b'{"sender":"x","message":"api","metadata":{"location":{"latitude":1e400,"longitude":110}}}',
    b'{"sender":"x","message":"a\xffb"}',
    '{"sender":"x","message":"api"}'.encode("utf-16"),
    b'{"sender":"\\u0000","message":"api"}', b'{"sender":"a\\u0007b","message":"api"}',
    b'{"sender":"   ","message":"api"}',
    b'{"sender":"x","message":"api","metadata":{"message_id":"' + b"m" * 209 + b'"}}',
    b'{"sender":"' + b"s" * 10013 + b'","message":"api"}',
    b'{"sender":"x","message":"' + b"a" * 5000 + b'"}',
])
def test_rest_bodies_that_break_json_rendering_get_a_422_and_store_nothing(
    app: RunningApp, body: bytes
) -> None:
    with unchanged(app):
        response = _post(app, REST, body, {"Content-Type": "application/json"})
    assert response.status_code == 422, response.text[:200]
    assert response.json()["detail"]


@pytest.mark.parametrize("note", [b"NaN", b"Infinity", b"1e400", b'"\\ud800"'])
def test_an_api_note_that_is_not_text_is_refused_or_cleaned(
    app: RunningApp, client: httpx.Client, note: bytes
) -> None:
    ticket = _one_ticket(app, client)
    body = b'{"status":"en_route","note":' + note + b"}"
    response = client.post(f"/api/tickets/{ticket}/events", content=body,
                           headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code in (201, 422), response.text[:200]
    if response.status_code == 201:  # the lone surrogate is dropped, the rest is stored
        with app.services.db.session() as session:
            notes = list(session.scalars(select(TicketEvent.note).where(
                TicketEvent.kind == "status", TicketEvent.ticket_id == ticket)))
        assert notes == [""]


# -- 4, 5, 6, 7. signed Telegram updates -----------------------------------------------------------
@pytest.mark.parametrize("update", [
    _update(date=10**20, text="kebakaran"),
    {"update_id": 778, "edited_message": {**_update(text="x")["message"], "edit_date": 10**20}},
    _update(text="kebakaran", forward_origin={"type": "hidden_user", "sender_user_name": "a",
                                              "date": 10**20}),
    _update(location={"latitude": int("9" * 401), "longitude": 110.0}),
    _update(location={"latitude": 1e400, "longitude": 110.0}),
    json.dumps(_update(text="x", reply_to_message=0)).replace(
        '"reply_to_message": 0', '"reply_to_message": ' + '{"a":' * 1000 + "1" + "}" * 1000).encode(),
])
def test_a_signed_telegram_update_out_of_bounds_gets_a_400(
    app: RunningApp, update: dict[str, Any] | bytes
) -> None:
    with unchanged(app):
        _json_4xx(_telegram(app, update))


def test_a_reply_chain_500_deep_gets_a_400(app: RunningApp) -> None:
    message: dict[str, Any] = {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}}
    for depth in range(500):
        message = {"message_id": depth + 2, "date": 1, "chat": {"id": 5, "type": "private"},
                   "text": "x", "reply_to_message": message}
    with unchanged(app):
        _json_4xx(_telegram(app, {"update_id": 9, "message": message}))


def test_a_lone_surrogate_or_nul_in_telegram_text_is_stored_without_it(app: RunningApp) -> None:
    body = json.dumps(_update(text="tolong\ud800 ada\u0000 kebakaran")).encode("utf-8", "surrogatepass")
    body = body.replace(b"\xed\xa0\x80", b"\\ud800")  # as JSON escapes, the way a client sends it
    response = _telegram(app, body)
    assert response.status_code == 200, response.text
    assert _inbound_texts(app, "777") == ["tolong ada kebakaran"]


# -- 8. Twilio -------------------------------------------------------------------------------------
def _whatsapp(app: RunningApp, form: dict[str, str], signed: bool = True) -> httpx.Response:
    return fake_twilio.post(app.url, PUBLIC_URL, WHATSAPP, form, AUTH_TOKEN if signed else None)


def test_a_signed_twilio_form_with_a_unicode_digit_count_is_read_without_media(app: RunningApp) -> None:
    form = fake_twilio.inbound("whatsapp:+6281234567002", "tolong banjir", to=WHATSAPP_FROM,
                               NumMedia="²", MediaUrl0="https://api.twilio.com/media/1")
    before = stored(app)["message"]
    response = _whatsapp(app, form)
    assert response.status_code == 200, response.text
    assert stored(app)["message"] >= before + 1
    assert _inbound_texts(app, form["MessageSid"]) == ["tolong banjir"]


@pytest.mark.parametrize(("sender", "sid"), [
    ("whatsapp:", None), ("", None), ("whatsapp:+62" + "1" * 10013, None), ("whatsapp:+628", "S" * 209),
    ("whatsapp:+62\x00811", None),
])
def test_a_signed_twilio_form_with_an_impossible_sender_or_id_gets_a_400(
    app: RunningApp, sender: str, sid: str | None
) -> None:
    form = fake_twilio.inbound(sender, "tolong", sid, to=WHATSAPP_FROM)
    with unchanged(app):
        _json_4xx(_whatsapp(app, form))


def test_an_unsigned_twilio_form_of_20000_fields_is_refused_at_once_while_healthz_answers(
    app: RunningApp,
) -> None:
    body = "&".join(f"f{i}=v{i}" for i in range(20_000)).encode()
    assert len(body) < 256 * 1024
    health: list[float] = []

    def probe() -> None:
        for _ in range(20):
            started = time.perf_counter()
            assert httpx.get(app.url + "/healthz", timeout=5).status_code == 200
            health.append(time.perf_counter() - started)

    with unchanged(app):
        prober = threading.Thread(target=probe)
        prober.start()
        started = time.perf_counter()
        unsigned = _post(app, WHATSAPP, body, {"Content-Type": "application/x-www-form-urlencoded"})
        took = time.perf_counter() - started
        forged = _post(app, WHATSAPP, body, {"Content-Type": "application/x-www-form-urlencoded",
                                             "X-Twilio-Signature": "A" * 27 + "="})
        prober.join()
    # Refused on its headers: milliseconds in the app (12.8 s when the check was quadratic). The bound
    # is loose because this round trip shares one Python process with the app and the prober.
    assert unsigned.status_code == 403 and took < 1.0, took
    assert forged.status_code == 413  # a forged signature still gets no quadratic work
    assert max(health) < 0.5


def test_a_forged_signature_on_a_normal_form_is_a_403(app: RunningApp) -> None:
    form = fake_twilio.inbound("whatsapp:+6281234567003", "tolong", to=WHATSAPP_FROM)
    forged = fake_twilio.signature(PUBLIC_URL, WHATSAPP, form, "wrong-token")
    with unchanged(app):
        response = httpx.post(app.url + WHATSAPP, data=form, timeout=30,
                              headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403


# -- 9, 10, 11. the Android gateway ----------------------------------------------------------------
@pytest.mark.parametrize("headers", [
    {"X-Timestamp": "\u00b2", "X-Signature": "0" * 64}, {"X-Timestamp": "１２３", "X-Signature": "0" * 64},
    {"X-Timestamp": str(int(time.time())), "X-Signature": "zz"}, {}, {"X-Timestamp": "9" * 40},
])
def test_an_unsigned_gateway_webhook_is_refused_before_its_body_is_read(
    app: RunningApp, headers: dict[str, str]
) -> None:
    raw = [(key.encode(), value.encode("utf-8")) for key, value in headers.items()]
    with unchanged(app):
        response = httpx.post(app.url + GATEWAY, content=b'{"event":"sms:received"}', headers=raw)
    assert response.status_code == 403


def test_a_gateway_receive_time_beyond_9999_is_replaced_by_the_servers(app: RunningApp, fakes: Fakes) -> None:
    response = _gateway(app, fakes, _sms(receivedAt="9999-12-31T23:59:59-14:00", messageId="far"))
    assert response.status_code == 200, response.text
    with app.services.db.session() as session:
        [message] = list(session.scalars(select(Message).where(
            Message.direction == "in", Message.provider_message_id.startswith("far:"))))
    assert 2026 <= message.created_at.year < 2100


@pytest.mark.parametrize("fields", [
    {"sender": None}, {"sender": [1]}, {"sender": ""}, {"sender": "+62" + "1" * 100},
    {"message": None}, {"messageId": {"a": 1}}, {"receivedAt": 12},
])
def test_a_signed_gateway_payload_of_the_wrong_shape_gets_a_400(
    app: RunningApp, fakes: Fakes, fields: dict[str, Any]
) -> None:
    with unchanged(app):
        _json_4xx(_gateway(app, fakes, _sms(**fields)))


# -- bodies: size, transfer encoding, slow clients, clients that leave -----------------------------
@pytest.mark.parametrize("size", [300 * 1024, 1024 * 1024, 10 * 1024 * 1024])
def test_a_chunked_body_over_the_limit_gets_413_and_stores_nothing(app: RunningApp, size: int) -> None:
    chunk = b" " * 65536

    def chunks() -> Any:
        yield b'{"sender":"x","message":"'
        sent = 0
        while sent < size:
            yield chunk
            sent += len(chunk)
        yield b'"}'

    with unchanged(app):
        response = httpx.post(app.url + REST, content=chunks(), timeout=30,
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "content-length" not in {k.lower() for k in response.request.headers}


def _raw(app: RunningApp, request: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", app.port), timeout=10) as sock:
        sock.sendall(request)
        if not read:
            return b""
        return sock.recv(65536)


def test_a_body_shorter_than_its_content_length_gets_a_408_not_a_stall(app: RunningApp) -> None:
    started = time.perf_counter()
    with unchanged(app):
        answer = _raw(app, b"POST " + REST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      b"application/json\r\nContent-Length: 100\r\n\r\n{\"sender\":")
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert time.perf_counter() - started < 5


def test_a_client_that_leaves_before_its_body_leaves_no_traceback(
    app: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    with unchanged(app):
        for _ in range(5):
            _raw(app, b"POST " + REST.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{",
                 read=False)
        time.sleep(0.3)
        assert httpx.get(app.url + "/healthz").status_code == 200
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# -- tokens ----------------------------------------------------------------------------------------
# (Whitespace around a header value is not part of it in HTTP: the server never sees it. The
# scheme is case-insensitive by RFC 7235; the token is not.)
@pytest.mark.parametrize("header", [
    f"Bearer  {API_TOKEN}", f"Bearer {API_TOKEN.upper()}", f"Bearer {API_TOKEN.title()}",
    f"Bearer\t{API_TOKEN}", f"Bearer {API_TOKEN} x", f"Bearer {API_TOKEN}\t{API_TOKEN}",
    f"Bearer {API_TOKEN[:-1]}", f"Bearer {API_TOKEN}x", API_TOKEN, "Bearer", f"Basic {API_TOKEN}",
    f"Token {API_TOKEN}",
])
def test_only_the_exact_token_is_accepted(app: RunningApp, client: httpx.Client, header: str) -> None:
    assert client.get("/api/tickets", headers={"Authorization": header}).status_code == 401
    assert client.get("/api/tickets", headers=AUTH).status_code == 200


def test_an_events_actor_is_the_tokens_name_and_the_token_is_never_stored(
    app: RunningApp, client: httpx.Client
) -> None:
    ticket = _one_ticket(app, client)
    assert client.post(f"/api/tickets/{ticket}/events", json={"status": "en_route"},
                       headers=AUTH).status_code == 201
    detail = client.get(f"/api/tickets/{ticket}", headers=AUTH).json()
    actors = [e["actor"] for e in detail["history"] if e["kind"] == "status"]
    assert actors == ["dispatcher:token1"]
    assert API_TOKEN[:4] not in json.dumps(detail)


# -- logs ------------------------------------------------------------------------------------------
def test_no_phone_number_reaches_the_logs_even_from_a_query_string(
    app: RunningApp, fakes: Fakes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    number = "6281299887766"
    httpx.post(f"{app.url}{WHATSAPP}?From=%2B{number}", data={"From": f"whatsapp:+{number}"}, timeout=30)
    _gateway(app, fakes, _sms(sender=[f"+{number}"]))
    form = fake_twilio.inbound(f"whatsapp:+{number}", "tolong kebakaran", to=WHATSAPP_FROM)
    assert _whatsapp(app, form).status_code == 200
    eventually(lambda: _inbound_texts(app, form["MessageSid"]), "the message")
    time.sleep(0.5)  # its turn runs and logs
    # The test's own HTTP client logs the URL it called: only the app's lines count.
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert lines and not [line for line in lines if number in line or number[-10:] in line]


def test_a_newline_in_a_status_error_code_cannot_forge_a_log_line(
    app: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    form = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed",
            "ErrorCode": "30008\n2026-12-02 INFO forged: admin logged in" + "x" * 100_000}
    response = fake_twilio.post(app.url, PUBLIC_URL, "/webhooks/twilio/status", form)
    assert response.status_code == 200
    [line] = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert "\n" not in line and len(line) < 500
