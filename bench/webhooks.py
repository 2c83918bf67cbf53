"""Webhook benchmark: how fast a provider gets its 200 while the turn goes on behind it.

    .venv/bin/python bench/webhooks.py [--messages 400] [--concurrency 16]

Runs the real app (uvicorn, SQLite file) with the Twilio SMS channel pointed at a local
stand-in of Twilio's API, posts signed webhooks from many reporters at once, and prints the
webhook answer latency (target p99 <= 200 ms) and how long the replies took to go out.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import PROJECT_DIR, Settings  # noqa: E402
from nlu.model import train  # noqa: E402
from tests.channels.fake_twilio import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    SMS_FROM,
    FakeTwilio,
    inbound,
    signature,
)
from tests.conftest import RunningApp  # noqa: E402

PUBLIC_URL = "https://112.example.go.id"
PATH = "/webhooks/twilio/sms"
TEXTS = [
    "tolong ada kebakaran rumah di jl melati 3 weleri",
    "kecelakaan motor di perempatan pasar boja ada yg luka",
    "di rt 2 rw 4 desa sukamaju",
    "ya",
]


async def post_all(url: str, messages: int, concurrency: int) -> list[float]:
    """Post signed webhooks; return each answer's latency in ms."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int) -> None:
            form = inbound(f"+62812{i % 50:07d}", TEXTS[(i // 50) % len(TEXTS)], sid=f"SMb{i:06d}")
            headers = {"X-Twilio-Signature": signature(PUBLIC_URL, PATH, form)}
            async with gate:
                started = time.perf_counter()
                response = await client.post(PATH, data=form, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()

        await asyncio.gather(*[one(i) for i in range(messages)])
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeTwilio() as twilio:
        models = Path(tmp) / "models"
        train(PROJECT_DIR, models)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite:///{tmp}/bench.db", models_dir=models, public_url=PUBLIC_URL,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=SecretStr(AUTH_TOKEN),
            twilio_sms_from=SMS_FROM, twilio_api_url=twilio.url,
        )
        with RunningApp(settings) as app:
            started = time.perf_counter()
            latencies = asyncio.run(post_all(app.url, args.messages, args.concurrency))
            posted = time.perf_counter() - started
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not _drained(app):
                time.sleep(0.2)
            total = time.perf_counter() - started
    latencies.sort()
    print(f"webhooks: {len(latencies)} from 50 reporters, concurrency {args.concurrency}")
    print(f"answer latency p50 {statistics.median(latencies):.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms, max {latencies[-1]:.1f} ms")
    print(f"all posted in {posted:.1f} s; every turn processed and every reply sent after "
          f"{total:.1f} s ({args.messages / total:.0f} messages/s end to end); "
          f"replies sent: {len(twilio.sent)}")


def _drained(app: RunningApp) -> bool:
    from sqlalchemy import func, select

    from bot.models import Message, OutboxMessage

    with app.services.db.session() as session:
        unprocessed = session.scalar(select(func.count()).select_from(Message).where(
            Message.direction == "in", Message.processed_at.is_(None)))
        pending = session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == "pending", OutboxMessage.kind != "reminder"))
    return not unprocessed and not pending


if __name__ == "__main__":
    main()
