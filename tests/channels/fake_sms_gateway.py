"""A local stand-in for the "SMS Gateway for Android" phone: its REST API and its webhooks.

API side (what `android-sms-gateway`'s client calls): POST /messages, GET/POST /webhooks,
DELETE /webhooks/{id}, GET /health, with Basic auth. It records every SMS it is asked to send
and can be taken down (503 answers, or no listener at all: connection refused) and brought back.
Phone side: `post_webhook` signs an event the way the app does and POSTs it to Sigap.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.conftest import free_port


class FakeSmsGateway:
    """The phone's API on a loopback port."""

    def __init__(self, login: str = "sigap", password: str = "sandi-rahasia",
                 signing_key: str = "kunci-tanda-tangan") -> None:
        self.login, self.password, self.signing_key = login, password, signing_key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sent: list[dict[str, Any]] = []  # bodies of POST /messages, with the id we gave
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.answer_503 = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> FakeSmsGateway:
        self._listen()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop_listening()

    def go_down(self, how: str) -> None:
        """'503': answer every call with 503; 'refused': stop listening."""
        if how == "503":
            self.answer_503 = True
        else:
            self._stop_listening()

    def come_back(self) -> None:
        """Answer normally again."""
        self.answer_503 = False
        if self._server is None:
            self._listen()

    def _listen(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- what it saw ------------------------------------------------------------------------
    def texts_to(self, number: str) -> list[str]:
        """Texts the gateway was asked to send to a number, in order."""
        with self._lock:
            return [m["textMessage"]["text"] for m in self.sent if number in m["phoneNumbers"]]

    def authorised(self, header: str | None) -> bool:
        """Basic auth with the phone's credentials."""
        expected = base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        return header == f"Basic {expected}"

    def record(self, message: dict[str, Any]) -> dict[str, Any]:
        """Keep a message to send; the state the API answers."""
        with self._lock:
            message_id = f"gw-{len(self.sent) + 1}"
            self.sent.append({**message, "id": message_id})
        return {
            "id": message_id, "state": "Pending", "isHashed": False, "isEncrypted": False,
            "recipients": [{"phoneNumber": p, "state": "Pending"} for p in message["phoneNumbers"]],
        }

    # -- the phone calling Sigap -----------------------------------------------------------
    def signed(self, body: bytes, timestamp: int | None = None, key: str | None = None) -> dict[str, str]:
        """Headers the app sends: X-Timestamp and X-Signature = HMAC-SHA256(body + timestamp)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new((key or self.signing_key).encode(), body + stamp.encode(), hashlib.sha256)
        return {"X-Timestamp": stamp, "X-Signature": digest.hexdigest(),
                "Content-Type": "application/json"}

    def webhook_body(self, event: str, payload: dict[str, Any]) -> bytes:
        """The JSON body of a webhook as the app sends it."""
        return json.dumps({"deviceId": "ffffffffceb0b1db0000018e937c815b", "event": event,
                           "id": f"evt-{time.monotonic_ns()}", "payload": payload,
                           "webhookId": f"sigap-{event.replace(':', '-')}"}).encode()

    def post_webhook(self, app_url: str, event: str, payload: dict[str, Any]) -> httpx.Response:
        """POST a signed event to Sigap as the phone does."""
        body = self.webhook_body(event, payload)
        return httpx.post(f"{app_url}/webhooks/sms-gateway", content=body, headers=self.signed(body),
                          timeout=30)


def _handler(fake: FakeSmsGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            if self._refused():
                return
            if self.path == "/health":
                self._json(200, {"status": "pass", "version": "1.0.0", "checks": {
                    "messages:failed": {"status": "pass", "observedValue": 0, "observedUnit": "messages"}}})
            elif self.path == "/webhooks":
                self._json(200, list(fake.webhooks.values()))
            else:
                self._json(404, {"message": "not found"})

        def do_POST(self) -> None:
            if self._refused():
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path.startswith("/messages"):
                self._json(202, fake.record(body))
            elif self.path == "/webhooks":
                hook_id = body.get("id") or f"hook-{len(fake.webhooks) + 1}"
                fake.webhooks[hook_id] = {**body, "id": hook_id}
                self._json(201, fake.webhooks[hook_id])
            else:
                self._json(404, {"message": "not found"})

        def do_DELETE(self) -> None:
            if self._refused():
                return
            fake.webhooks.pop(self.path.rsplit("/", 1)[-1], None)
            self.send_response(204)
            self.end_headers()

        def _refused(self) -> bool:
            fake.requests += 1
            if fake.answer_503:
                self._json(503, {"message": "device unavailable"})
                return True
            if not fake.authorised(self.headers.get("Authorization")):
                self._json(401, {"message": "unauthorized"})
                return True
            return False

        def _json(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler
