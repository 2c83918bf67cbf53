"""SMS through an Android phone: signed webhooks in, the phone's API out, waiting while it is off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

import channels
from bot.settings import Settings, get_settings
from bot.storage.models import Message
from tests.channels.fake_sms_gateway import FakeSmsGateway
from tests.conftest import RunningApp, eventually, outbox_rows
from tests.e2e.conversation import inbound_count, tickets

REPORTER = "+6281234567890"
WIB = timezone(timedelta(hours=7))


def sms(text: str, number: str = REPORTER, message_id: str = "a1b2c3d4") -> dict[str, Any]:
    """An sms:received payload as the app sends it (receivedAt in the phone's time zone)."""
    return {"messageId": message_id, "message": text, "sender": number, "phoneNumber": number,
            "recipient": "+6281100000112", "simNumber": 1,
            "receivedAt": datetime.now(WIB).isoformat(timespec="milliseconds")}


def gauge(app: RunningApp) -> float:
    lines = httpx.get(f"{app.url}/metrics").text.splitlines()
    sample = 'sigap_sms_gateway_up{provider="android"} '
    return float(next(line for line in lines if line.startswith(sample)).split()[1])


@pytest.fixture
def gateway() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as fake:
        yield fake


@pytest.fixture
def sms_app(
    settings: Settings, gateway: FakeSmsGateway, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningApp]:
    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("rest", "sms_gateway"))
    configured = settings.model_copy(update={
        "sms_provider": "android", "sms_gateway_url": gateway.url,
        "sms_gateway_login": gateway.login, "sms_gateway_password": SecretStr(gateway.password),
        "sms_gateway_signing_key": SecretStr(gateway.signing_key),
        "sms_gateway_health_seconds": 0.2, "outbox_first_retry_seconds": 0.2,
    })
    with RunningApp(configured) as app:
        yield app


def test_report_by_sms_creates_a_ticket_and_replies_go_out_through_the_phone(
    sms_app: RunningApp, gateway: FakeSmsGateway
) -> None:
    payload = sms("tolong ada kebakaran di jl pemuda no 10 kendal")
    assert gateway.post_webhook(sms_app.url, "sms:received", payload).status_code == 200
    [ticket] = eventually(lambda: tickets(sms_app.services), "a ticket")
    assert ticket.emergency_type == "fire"
    eventually(lambda: any(ticket.number in text for text in gateway.texts_to(REPORTER)),
               "the reply with the ticket number")
    rows = eventually(lambda: [r for r in outbox_rows(sms_app) if r.status == "sent"], "sent rows")
    assert all(len(text) <= 306 for text in gateway.texts_to(REPORTER))

    # The phone reports the delivery of our reply under the id its API gave.
    last = rows[-1]
    delivered = {"messageId": last.provider_message_id, "phoneNumber": REPORTER, "simNumber": 1,
                 "deliveredAt": datetime.now(WIB).isoformat()}
    assert gateway.post_webhook(sms_app.url, "sms:delivered", delivered).status_code == 200
    eventually(lambda: {r.id: r.delivery_status for r in outbox_rows(sms_app)}[last.id] == "delivered",
               "delivery status")

    # The app retries a webhook it got no answer to: the same SMS is stored once.
    assert gateway.post_webhook(sms_app.url, "sms:received", payload).status_code == 200
    assert inbound_count(sms_app.services) == 1


def test_same_text_sent_twice_is_two_messages(sms_app: RunningApp, gateway: FakeSmsGateway) -> None:
    # The app's messageId is a hash of the SMS: an identical second "tolong" must not be dropped.
    first = sms("tolong", message_id="0badcafe")
    again = {**first, "receivedAt": (datetime.now(WIB) + timedelta(seconds=5)).isoformat()}
    for payload in (first, again):
        assert gateway.post_webhook(sms_app.url, "sms:received", payload).status_code == 200
    eventually(lambda: inbound_count(sms_app.services) == 2, "both messages stored")


def test_forged_or_stale_webhooks_are_refused_and_nothing_is_stored(
    sms_app: RunningApp, gateway: FakeSmsGateway
) -> None:
    body = gateway.webhook_body("sms:received", sms("ada kebakaran di pasar kendal"))
    now = int(time.time())
    forged = [
        gateway.signed(body, key="not-the-key"),
        gateway.signed(body, timestamp=now - 3600),  # a replay of an old, genuine webhook
        gateway.signed(body, timestamp=now + 3600),
        {**gateway.signed(body), "X-Signature": "00" * 32},
        {**gateway.signed(body), "X-Timestamp": str(now + 1)},
        {"Content-Type": "application/json"},
    ]
    url = f"{sms_app.url}/webhooks/sms-gateway"
    for headers in forged:
        assert httpx.post(url, content=body, headers=headers).status_code == 403
    # A genuine signature does not carry over to another body.
    other = gateway.webhook_body("sms:received", sms("ada kebakaran di pasar demak"))
    assert httpx.post(url, content=other, headers=gateway.signed(body)).status_code == 403
    assert inbound_count(sms_app.services) == 0
    assert tickets(sms_app.services) == []


@pytest.mark.parametrize("how", ["503", "refused"])
def test_gateway_down_replies_wait_and_go_out_when_it_returns(
    sms_app: RunningApp, gateway: FakeSmsGateway, how: str
) -> None:
    eventually(lambda: gauge(sms_app) == 1.0, "the gateway reported up")
    gateway.go_down(how)
    payload = sms("tolong ada orang pingsan tidak bernapas di jl merdeka 5 semarang")
    assert gateway.post_webhook(sms_app.url, "sms:received", payload).status_code == 200
    eventually(lambda: any(r.attempts and r.status == "pending" and r.last_error
                           for r in outbox_rows(sms_app)), "a failed attempt kept for retry")
    assert gateway.texts_to(REPORTER) == []
    eventually(lambda: gauge(sms_app) == 0.0, "the gateway reported down")

    gateway.come_back()
    eventually(lambda: gateway.texts_to(REPORTER), "the replies after the gateway returned")
    # CPR reminders are scheduled minutes ahead: they keep their time, the replies go now.
    rows = eventually(lambda: (replies := [r for r in outbox_rows(sms_app) if r.kind != "reminder"])
                      and all(r.status == "sent" for r in replies) and replies, "every reply sent")
    assert all(r.status == "pending" and r.attempts == 0
               for r in outbox_rows(sms_app) if r.kind == "reminder")
    assert len(gateway.texts_to(REPORTER)) >= len(rows)
    eventually(lambda: gauge(sms_app) == 1.0, "the gateway reported up again")
    with sms_app.services.db.session() as session:
        assert session.query(Message).filter_by(direction="in").count() == 1


def test_register_webhook_command_registers_every_event_once(
    gateway: FakeSmsGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("rest", "sms_gateway"))
    for name, value in {"SMS_PROVIDER": "android", "SMS_GATEWAY_URL": gateway.url,
                        "SMS_GATEWAY_LOGIN": gateway.login, "SMS_GATEWAY_PASSWORD": gateway.password,
                        "PUBLIC_URL": "https://sigap.example.id"}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert main(["sms-gateway", "register-webhook"]) == 0
        assert main(["sms-gateway", "register-webhook"]) == 0
    finally:
        get_settings.cache_clear()
    hooks = gateway.webhooks.values()
    assert sorted(h["event"] for h in hooks) == sorted(
        ["sms:received", "sms:sent", "sms:delivered", "sms:failed", "system:ping"])
    assert {h["url"] for h in hooks} == {"https://sigap.example.id/webhooks/sms-gateway"}
