"""Readiness with the real servers (and without them), and the figures /metrics must carry."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

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


def test_a_deployment_without_sms_exports_no_sms_gauge_that_reads_as_down(
    models_dir: Path, tmp_path: Path,
) -> None:
    # A process of its own: the metrics registry is per process, and other tests here run SMS.
    program = (
        "from fastapi.testclient import TestClient\n"
        "from bot.web.app import create_app\n"
        "with TestClient(create_app()) as client:\n"
        "    print(client.get('/metrics').text)\n")
    channels = ("SMS_", "SMPP_", "TWILIO_", "TELEGRAM_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(channels)}
    env |= {"MODELS_DIR": str(models_dir), "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "REDIS_URL": ""}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "sigap_turns_total" in done.stdout  # the metrics are there
    assert "sigap_sms_gateway_up{" not in done.stdout and "sigap_smpp_link_up{" not in done.stdout


def _value(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
