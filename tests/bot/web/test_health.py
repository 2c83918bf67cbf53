"""Readiness with the real servers (and without them), and the figures /metrics must carry."""

from __future__ import annotations

import uuid

import httpx

from bot.settings import Settings
from tests.conftest import RunningApp, free_port, rest_texts


def test_ready_names_the_database_and_redis_when_redis_is_configured(settings: Settings) -> None:
    with RunningApp(settings) as app:
        answer = httpx.get(f"{app.url}/readyz", timeout=10)
        assert answer.status_code == 200
        expected = {"status": "ready", "database": "ok"} | ({"redis": "ok"} if settings.redis_url else {})
        assert answer.json() == expected


def test_not_ready_while_redis_does_not_answer(settings: Settings) -> None:
    # Redis at a port nobody listens on: the app still starts (everything is stored in the
    # database), but a balancer must not send it traffic.
    nowhere = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with RunningApp(nowhere) as app:
        answer = httpx.get(f"{app.url}/readyz", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["redis"] == "unavailable" and answer.json()["database"] == "ok"


def test_metrics_count_turns_tickets_and_the_time_to_a_ticket(settings: Settings) -> None:
    with RunningApp(settings) as app:
        before = httpx.get(f"{app.url}/metrics").text
        rest_texts(app, f"m-{uuid.uuid4().hex[:6]}", "kebakaran rumah di desa sumberrejo kendal")
        text = httpx.get(f"{app.url}/metrics").text
    assert 'sigap_turns_total{channel="rest",intent="report_emergency"}' in text
    opened = [line for line in text.splitlines() if line.startswith("sigap_tickets_opened_total{")]
    assert any('emergency_type="fire"' in line and "priority=" in line for line in opened)
    assert _value(text, "sigap_first_message_to_ticket_seconds_count") > _value(
        before, "sigap_first_message_to_ticket_seconds_count")
    assert "sigap_outbox_depth" in text and "sigap_send_errors_total" in text
    # No SMS adapter configured here: no gauge that would read as "down".
    assert "sigap_sms_gateway_up{" not in text and "sigap_smpp_link_up{" not in text


def _value(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
