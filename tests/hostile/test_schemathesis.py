"""schemathesis against the app's own OpenAPI schema: generated requests, signed where the route
wants a signature (so they reach the parsers), unsigned too; no 5xx, whatever is sent."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.channels import fake_twilio
from tests.channels.fake_telegram import SECRET
from tests.conftest import API_TOKEN, RunningApp
from tests.hostile.conftest import Fakes

# The budget of `make test`: enough to cover every route in both modes, a few seconds each.
EXAMPLES = 120
PUBLIC_URL = "http://testserver"


def _send(app: RunningApp, fakes: Fakes, case: Any, sign: bool) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=app.url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    path = case.formatted_path
    if "json" in kwargs:
        body = json.dumps(kwargs["json"]).encode()
        headers["Content-Type"] = "application/json"
    elif isinstance(kwargs.get("data"), dict):
        form = {str(k): str(v) for k, v in kwargs["data"].items()}
        body = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if sign:
            headers["X-Twilio-Signature"] = fake_twilio.signature(PUBLIC_URL, path, form)
    else:
        data = kwargs.get("data") or b""
        body = data if isinstance(data, bytes) else str(data).encode()
    if sign:
        headers["Authorization"] = f"Bearer {API_TOKEN}"
        headers["X-Telegram-Bot-Api-Secret-Token"] = SECRET
        if path == "/webhooks/sms-gateway":
            headers.update(fakes.gateway.signed(body))
    return httpx.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), content=body,
                         headers=headers, timeout=30)


def test_no_generated_request_gets_a_server_error(app: RunningApp, fakes: Fakes) -> None:
    schema = schemathesis.openapi.from_url(app.url + "/openapi.json")
    operations = {op.ok().label for op in schema.get_all_operations()}
    assert {"POST /webhooks/rest/webhook", "POST /webhooks/telegram", "POST /webhooks/twilio/whatsapp",
            "POST /webhooks/sms-gateway", "GET /api/tickets/{ticket_id}"} <= operations
    errors: list[str] = []
    seen: set[str] = set()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(schema.as_strategy(GenerationMode.POSITIVE),
                          schema.as_strategy(GenerationMode.NEGATIVE)), sign=st.booleans())
    def probe(case: Any, sign: bool) -> None:
        seen.add(case.operation.label)
        response = _send(app, fakes, case, sign)
        if response.status_code >= 500:
            errors.append(f"{case.operation.label} {response.status_code}: {case.as_curl_command()}")

    probe()
    assert errors == []
    assert len(seen) >= 5
