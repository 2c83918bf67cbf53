"""Webhook benchmark: how fast a provider gets its 200 while the turn goes on behind it.

    .venv/bin/python bench/webhooks.py [--messages 400] [--rate 20] [--database-url URL]

Runs `sigap serve` in its own process (SQLite file unless --database-url) with the Twilio SMS
channel pointed at a local stand-in of Twilio's API, posts signed webhooks from 50 reporters
at a steady rate (open loop: a slow answer does not slow the senders down, so queueing shows),
and prints the webhook answer latency (target p99 <= 200 ms) and how long the replies took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import PROJECT_DIR  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from nlu.model import train  # noqa: E402
from tests.channels.fake_twilio import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    SMS_FROM,
    FakeTwilio,
    inbound,
    signature,
)
from tests.conftest import free_port  # noqa: E402

PUBLIC_URL = "https://112.example.go.id"
PATH = "/webhooks/twilio/sms"
TEXTS = [
    "tolong ada kebakaran rumah di jl melati 3 weleri",
    "kecelakaan motor di perempatan pasar boja ada yg luka",
    "di rt 2 rw 4 desa sukamaju",
    "ya",
]


async def post_all(url: str, messages: int, rate: float) -> list[float]:
    """Post signed webhooks, `rate` per second; return each answer's latency in ms."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(i: int) -> None:
            form = inbound(f"+62812{i % 50:07d}", TEXTS[(i // 50) % len(TEXTS)], sid=f"SMb{i:06d}")
            headers = {"X-Twilio-Signature": signature(PUBLIC_URL, PATH, form)}
            await asyncio.sleep(i / rate)
            started = time.perf_counter()
            response = await client.post(PATH, data=form, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()

        await asyncio.gather(*[one(i) for i in range(messages)])
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks per second")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeTwilio() as twilio:
        models = Path(tmp) / "models"
        train(PROJECT_DIR, models)
        database_url = args.database_url or f"sqlite:///{tmp}/bench.db"
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "MODELS_DIR": str(models),
               "PUBLIC_URL": PUBLIC_URL, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
               "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": SMS_FROM,
               "TWILIO_API_URL": twilio.url, "REDIS_URL": ""}
        sigap = str(Path(sys.executable).with_name("sigap"))
        server = subprocess.Popen([sigap, "serve", "--port", str(port)], env=env, cwd=tmp)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
            db = Database(database_url)
            started = time.perf_counter()
            latencies = asyncio.run(post_all(url, args.messages, args.rate))
            posted = time.perf_counter() - started
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not _drained(db):
                time.sleep(0.2)
            total = time.perf_counter() - started
            db.dispose()
        finally:
            server.terminate()
            server.wait(timeout=30)
    latencies.sort()
    print(f"webhooks: {len(latencies)} from 50 reporters at {args.rate:.0f}/s "
          f"({'SQLite' if not args.database_url else args.database_url.split(':')[0]})")
    print(f"answer latency p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"all posted in {posted:.1f} s; every turn processed and every reply sent after "
          f"{total:.1f} s ({args.messages / total:.0f} messages/s end to end); "
          f"replies sent: {len(twilio.sent)}")


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("sigap serve did not become ready")


def _drained(db: Database) -> bool:
    from sqlalchemy import func, select

    from bot.storage.models import Message, OutboxMessage

    with db.session() as session:
        unprocessed = session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.processed_at.is_(None)))
        pending = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "pending", OutboxMessage.kind != "reminder"))
    return not unprocessed and not pending


if __name__ == "__main__":
    main()
