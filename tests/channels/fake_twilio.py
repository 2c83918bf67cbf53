"""A local stand-in for Twilio: its Messages API, and webhooks signed the way Twilio signs them.

API side: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with Basic auth (SID, token),
answered 201 with a Message resource as Twilio returns it. It records every message it
accepted and can fail the next N requests with 500 and Twilio's error body.
Webhook side: `post` signs a form with the auth token (`RequestValidator.compute_signature`)
over PUBLIC_URL + path and POSTs it to Sigap.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f" * 32
SMS_FROM = "+14155550100"
WHATSAPP_FROM = "whatsapp:+14155238886"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


class FakeTwilio:
    """Twilio's Messages API on a loopback port."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []  # form of each accepted message, plus its "Sid"
        self.requests = 0
        self.fail_next = 0
        self.fail_after = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail(self, times: int, after: int = 0) -> None:
        """Answer `times` requests with 500, once `after` more have been answered normally."""
        with self._lock:
            self.fail_next, self.fail_after = times, after

    def bodies_to(self, to: str) -> list[str]:
        """Bodies of the messages accepted for one recipient, in order."""
        with self._lock:
            return [m["Body"] for m in self.sent if m["To"] == to]

    def answer(self, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
        """Status and JSON for one Messages API call."""
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        with self._lock:
            self.requests += 1
            if authorization != expected:
                return 401, _error(20003, "Authenticate", 401)
            if self.fail_next and not self.fail_after:
                self.fail_next -= 1
                return 500, _error(20500, "Internal Server Error", 500)
            if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
                return 400, _error(21604, "A 'To' phone number is required.", 400)
            self.fail_after = max(0, self.fail_after - 1)
            sid = "SM" + secrets.token_hex(16)
            self.sent.append({**form, "Sid": sid})
            return 201, _message(sid, form)


def _error(code: int, message: str, status: int) -> dict[str, Any]:
    return {"code": code, "message": message, "status": status,
            "more_info": f"https://www.twilio.com/docs/errors/{code}"}


def _message(sid: str, form: dict[str, str]) -> dict[str, Any]:
    now = formatdate(usegmt=True)
    uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"
    return {
        "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": form.get("Body", ""),
        "date_created": now, "date_sent": None, "date_updated": now,
        "direction": "outbound-api", "error_code": None, "error_message": None,
        "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
        "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD",
        "sid": sid, "status": "queued", "to": form["To"], "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }


def _handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # Twilio's API keeps a client's connection open between calls, as this does (every
        # answer has its length): a send does not pay for a new connection.
        protocol_version = "HTTP/1.1"
        # The head and the body are two writes: without TCP_NODELAY the body waits for the
        # client's delayed ACK (40 ms a send), which Twilio's API does not make anyone wait.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            # A proxy forwards a request with its whole URL (RFC 9112's absolute form): its path is
            # what is asked for.
            if urlsplit(self.path).path != MESSAGES_PATH:
                self._reply(404, _error(20404, "The requested resource was not found", 404))
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            self._reply(*fake.answer(form, self.headers.get("Authorization", "")))

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:  # keep test output quiet
            pass

    return Handler


def signature(public_url: str, path: str, form: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature of a webhook, as Twilio computes it."""
    return str(RequestValidator(token).compute_signature(public_url + path, form))


def post(app_url: str, public_url: str, path: str, form: dict[str, str],
         signed_with: str | None = AUTH_TOKEN) -> httpx.Response:
    """POST a webhook to Sigap as Twilio does (signed with `signed_with`; None: unsigned)."""
    headers = {}
    if signed_with is not None:
        headers["X-Twilio-Signature"] = signature(public_url, path, form, signed_with)
    return httpx.post(app_url + path, data=form, headers=headers, timeout=30)


def inbound(sender: str, body: str, sid: str | None = None, to: str = SMS_FROM,
            **fields: str) -> dict[str, str]:
    """An inbound message webhook form, as Twilio posts it (the id repeated under three names)."""
    sid = sid or "SM" + secrets.token_hex(16)
    return {
        "ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
        "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01", **fields,
    }
