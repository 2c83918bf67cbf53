"""Dispatchers receive tickets from the queue; a silent reporter's ticket still goes out."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import select

from bot.storage.models import DispatchItem, Message
from tests.conftest import API_TOKEN, RunningApp
from tests.e2e.conversation import Reporter, tickets


def _listen(database_url: str, redis_url: str | None, agency: str) -> list[dict]:
    env = {**os.environ, "DATABASE_URL": database_url, "SIGAP_API_TOKENS": API_TOKEN,
           "SIGAP_TOKEN": API_TOKEN}
    if redis_url:
        env["REDIS_URL"] = redis_url
    done = subprocess.run(
        [sys.executable, "-m", "bot", "dispatch", "listen", "--agency", agency, "--once"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_a_silent_reporter_still_has_a_dispatched_ticket_that_listeners_receive_once(
    client: httpx.Client, running_app: RunningApp, database_url: str, redis_url: str | None
) -> None:
    # One message, then silence: no place, no answer to the questions.
    Reporter(client, "silent").say("tolong ada yang kebakaran rumah")
    [ticket] = tickets(running_app.services)
    notices = _listen(database_url, redis_url, "fire_rescue")
    assert [n["ticket_number"] for n in notices] == [ticket.number]
    assert notices[0]["change"] == "created"
    assert notices[0]["type"] == "fire"
    assert _listen(database_url, redis_url, "fire_rescue") == []  # acknowledged: not sent twice
    with running_app.services.db.session() as session:
        pending = session.scalars(
            select(DispatchItem).where(DispatchItem.acked_at.is_(None))
        ).all()
        assert {p.agency for p in pending} == set(ticket.agencies) - {"fire_rescue"}


async def test_two_messages_of_one_reporter_sent_at_once_are_processed_in_order(
    running_app: RunningApp,
) -> None:
    texts = ["tolong ada banjir di rumah saya", "di desa karanganyar kecamatan demak"]
    async with httpx.AsyncClient(base_url=running_app.url, timeout=30) as http:
        await asyncio.gather(*[
            http.post("/webhooks/rest/webhook", json={"sender": "fast", "message": t})
            for t in texts
        ])
    with running_app.services.db.session() as session:
        inbound = session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.processed_at)
        ).all()
        assert all(m.processed_at for m in inbound)
        processed_order = [m.id for m in inbound]
        assert processed_order == sorted(processed_order)


def test_a_status_change_and_the_message_telling_the_reporter_land_together(
    client: httpx.Client, running_app: RunningApp
) -> None:
    from bot.storage.models import OutboxMessage, TicketEvent

    Reporter(client, "together").say("ada kecelakaan motor di jalan raya boja km 3")
    [ticket] = tickets(running_app.services)
    desk = running_app.services.desk

    def broken(_session: object, _view: object) -> None:
        raise RuntimeError("the notice could not be written")

    with pytest.raises(RuntimeError):
        desk.set_status(ticket.id, "en_route", "dispatcher", also=broken)
    assert desk.get(ticket.id).status == "new"  # nothing half-written
    with running_app.services.db.session() as session:
        assert session.query(TicketEvent).filter_by(ticket_id=ticket.id, kind="status").count() == 0
        assert session.query(OutboxMessage).filter_by(kind="notice").count() == 0
