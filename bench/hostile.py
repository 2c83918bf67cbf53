"""Hostile-input benchmark: attacks on every route of a running `sigap serve`, counted.

    .venv/bin/python bench/hostile.py [--repeat 20] [--database-url URL]

Runs `sigap serve` in its own process with every channel configured (Telegram, Twilio WhatsApp,
the Android SMS gateway, REST, the dispatch API) against local stand-ins of the providers, sends
each class of hostile request to each route `--repeat` times (signed and unsigned where a route
is signed), and prints the requests per route and class, the status codes, the 5xx count (must
be 0) and the rows stored from rejected requests (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhooks import _wait_ready  # noqa: E402
from bot.settings import PROJECT_DIR  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from nlu.model import train  # noqa: E402
from tests.channels.fake_sms_gateway import FakeSmsGateway  # noqa: E402
from tests.channels.fake_telegram import SECRET, TOKEN, FakeTelegram  # noqa: E402
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio, signature  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PUBLIC_URL = "https://112.example.go.id"
API_TOKEN = "bench-dispatcher-token"
Request = tuple[str, str, bytes, dict[str, str]]  # method, path, body, headers


def _json(path: str, value: object, headers: dict[str, str] | None = None) -> Request:
    return ("POST", path, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})


def _deep(depth: int) -> bytes:
    return ('{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":1},"x":'
            + "[" * depth + "]" * depth + "}}").encode()


def attacks(gateway: FakeSmsGateway) -> dict[tuple[str, str], Callable[[random.Random], Request]]:
    """(route, class) -> a generator of one hostile request."""
    telegram = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    auth = {"Authorization": f"Bearer {API_TOKEN}", "Content-Type": "application/json"}

    def twilio(fields: dict[str, str], signed: bool = True) -> Request:
        body = urlencode(fields).encode()
        headers = dict(form)
        if signed:
            headers["X-Twilio-Signature"] = signature(PUBLIC_URL, "/webhooks/twilio/whatsapp", fields)
        return ("POST", "/webhooks/twilio/whatsapp", body, headers)

    def signed_gateway(payload: object) -> Request:
        body = gateway.webhook_body("sms:received", payload)  # type: ignore[arg-type]
        return ("POST", "/webhooks/sms-gateway", body, gateway.signed(body))

    rest = "/webhooks/rest/webhook"
    return {
        ("rest", "NaN/Infinity/1e400 point"): lambda r: ("POST", rest, (
            '{"sender":"x","message":"a","metadata":{"location":{"latitude":'
            + r.choice(["NaN", "Infinity", "-Infinity", "1e400"]) + ',"longitude":1}}}').encode(), {}),
        ("rest", "invalid UTF-8/UTF-16"): lambda r: ("POST", rest, r.choice(
            [b'{"sender":"x","message":"a\xffb"}', '{"sender":"x","message":"a"}'.encode("utf-16")]), {}),
        ("rest", "random bytes"): lambda r: ("POST", rest, r.randbytes(r.randint(0, 200)), {}),
        ("rest", "oversize ids and text"): lambda r: _json(rest, r.choice([
            {"sender": "s" * 10_013, "message": "a"}, {"sender": "x", "message": "a" * 5000},
            {"sender": "x", "message": "a", "metadata": {"message_id": "m" * 209}},
            {"sender": "\u0000", "message": "a"}, {"sender": "", "message": "a"}])),
        ("rest", "declared too large"): lambda r: ("POST", rest, b"{" + b" " * 300_000 + b"}", {}),
        ("api", "ids out of range"): lambda r: ("GET", "/api/tickets/" + r.choice(
            ["9223372036854775808", "1_0", "-1", "0", "1e3", "99999999999999999999"]), b"", auth),
        ("api", "notes that are not text"): lambda r: ("POST", "/api/tickets/1/events",
                                                       b'{"status":"en_route","note":' + r.choice(
                                                           [b"NaN", b"1e400", b"[1]", b"{}"]) + b"}", auth),
        ("api", "token variants"): lambda r: ("GET", "/api/tickets", b"", {"Authorization": r.choice([
            f"Bearer  {API_TOKEN}", f"Bearer {API_TOKEN.upper()}", f"Bearer {API_TOKEN[:-1]}",
            API_TOKEN, f"Basic {API_TOKEN}", "Bearer"])}),
        ("telegram", "dates out of range"): lambda r: _json("/webhooks/telegram", {
            "update_id": r.randint(1, 10**9),
            "message": {"message_id": 1, "date": 10**20, "chat": {"id": 5}, "text": "x"}}, telegram),
        ("telegram", "401-digit latitude"): lambda r: ("POST", "/webhooks/telegram", (
            '{"update_id":1,"message":{"message_id":1,"date":1,"chat":{"id":5},"location":'
            '{"latitude":' + "9" * 401 + ',"longitude":1}}}').encode(), telegram),
        ("telegram", "nested 1,000 deep"): lambda r: ("POST", "/webhooks/telegram", _deep(1000), telegram),
        ("telegram", "unsigned"): lambda r: _json("/webhooks/telegram", {"update_id": 1}),
        ("telegram", "not an update"): lambda r: ("POST", "/webhooks/telegram", r.choice(
            [b"[]", b"null", b'{"update_id":"1"}', b'{"update_id":1,"message":{"chat":{}}}']), telegram),
        ("twilio", "unsigned 20,000 fields"): lambda r: ("POST", "/webhooks/twilio/whatsapp", "&".join(
            f"f{i}=v" for i in range(20_000)).encode(), form),
        ("twilio", "forged 20,000 fields"): lambda r: ("POST", "/webhooks/twilio/whatsapp", "&".join(
            f"f{i}=v" for i in range(20_000)).encode(), {**form, "X-Twilio-Signature": "A" * 27 + "="}),
        ("twilio", "empty or huge sender"): lambda r: twilio({"From": r.choice(["whatsapp:", "whatsapp:+62"
            + "1" * 10_013]), "Body": "a", "MessageSid": f"SM{r.getrandbits(64):x}"}),
        ("twilio", "forged signature"): lambda r: ("POST", "/webhooks/twilio/whatsapp",
                                                  b"From=whatsapp%3A%2B628&Body=a&MessageSid=SM1",
                                                  {**form, "X-Twilio-Signature": "B" * 27 + "="}),
        ("gateway", "unsigned, bad timestamp"): lambda r: ("POST", "/webhooks/sms-gateway", b"{}", {
            "X-Timestamp": r.choice(["\u00b2", "abc", "9" * 30, ""]),
            "X-Signature": "0" * 64}),
        ("gateway", "sender of the wrong shape"): lambda r: signed_gateway({
            "messageId": "a", "message": "tolong", "receivedAt": "2026-12-02T08:00:00+07:00",
            "sender": r.choice([None, [1], {"a": 1}, "", "1" * 200])}),
    }


def _send(client: httpx.Client, request: Request) -> int:
    method, path, body, headers = request
    raw = [(key.encode(), value.encode("utf-8")) for key, value in headers.items()]  # "²" as bytes
    try:
        return client.request(method, path, content=body, headers=raw).status_code
    except httpx.HTTPError:
        return 0  # the server closed the connection (counted, never a 5xx)


def _chunked(client: httpx.Client, size: int) -> int:
    def chunks() -> Iterator[bytes]:
        yield b'{"sender":"x","message":"'
        for _ in range(size // 65536):
            yield b" " * 65536
        yield b'"}'

    headers = {"Content-Type": "application/json"}
    return client.post("/webhooks/rest/webhook", content=chunks(), headers=headers).status_code


def _inbound(db: Database) -> int:
    from sqlalchemy import func, select

    from bot.storage.models import Message

    with db.session() as session:
        query = select(func.count()).select_from(Message).where(Message.direction == "in")
        return int(session.scalar(query) or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20, help="requests per route and class")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    with (tempfile.TemporaryDirectory() as tmp, FakeTwilio() as twilio, FakeTelegram() as telegram,
          FakeSmsGateway() as gateway):
        models = Path(tmp) / "models"
        train(PROJECT_DIR, models)
        database_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "MODELS_DIR": str(models),
               "PUBLIC_URL": PUBLIC_URL, "SIGAP_API_TOKENS": API_TOKEN, "REDIS_URL": "",
               "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
               "TELEGRAM_API_URL": telegram.api_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
               "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
               "TWILIO_API_URL": twilio.url, "SMS_PROVIDER": "android", "SMS_GATEWAY_URL": gateway.url,
               "SMS_GATEWAY_LOGIN": gateway.login, "SMS_GATEWAY_PASSWORD": gateway.password,
               "SMS_GATEWAY_SIGNING_KEY": gateway.signing_key}
        sigap = str(Path(sys.executable).with_name("sigap"))
        server = subprocess.Popen([sigap, "serve", "--port", str(port)], env=env, cwd=tmp,
                                  stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        results: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
        try:
            _wait_ready(url)
            db = Database(database_url)
            rng = random.Random(112)
            with httpx.Client(base_url=url, timeout=30) as client:
                for key, make in attacks(gateway).items():
                    for _ in range(args.repeat):
                        results[key][_send(client, make(rng))] += 1
                for size in (300 * 1024, 1024 * 1024, 10 * 1024 * 1024):
                    results[("rest", "chunked over the limit")][_chunked(client, size)] += 1
                stored = _inbound(db)
            db.dispose()
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{'route':9} {'class':30} {'sent':>5}  status codes")
    for (route, kind), codes in results.items():
        print(f"{route:9} {kind:30} {sum(codes.values()):>5}  "
              + ", ".join(f"{code}x{n}" for code, n in sorted(codes.items())))
    total = Counter[int]()
    for codes in results.values():
        total.update(codes)
    errors = sum(n for code, n in total.items() if code >= 500)
    print(f"requests: {sum(total.values())}; 5xx: {errors} (must be 0); rows stored from rejected "
          f"requests: {stored} (must be 0; every request above is one to refuse)")


if __name__ == "__main__":
    main()
