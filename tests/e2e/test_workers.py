"""`sigap serve --workers 2` on PostgreSQL and Redis: reporters write at once, their messages land
on either process, and still every message is stored once and answered in order, every report
gets one ticket, and each incident is published once to each of its agencies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.storage.models import Conversation, DispatchItem, Incident, Message, Ticket
from tests.conftest import _fresh_redis, free_port, fresh_postgres

REPORTERS = 12
# A report, then its answers, as a reporter writes them (each waits for the answer before the next).
TURNS = ["kebakaran rumah di desa {village} kendal", "tidak ada yang luka", "terima kasih"]
VILLAGES = ["sumberrejo", "kaliwungu", "weleri", "boja", "cepiring", "patebon", "brangsong", "pegandon",
            "gemuh", "kangkung", "rowosari", "sukorejo"]


@pytest.fixture
def served(postgres_schema: str, models_dir: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    database, redis = fresh_postgres(), _fresh_redis()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis, "MODELS_DIR": str(models_dir),
           "PUBLIC_URL": "http://testserver", "SIGAP_API_TOKENS": ""}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        else:
            pytest.fail("sigap serve --workers 2 did not become ready")
        # Both processes came up (each loads the model once).
        deadline = time.monotonic() + 60
        while (tmp_path / "serve.log").read_text().count("NLU model loaded") < 2:
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        yield url, database
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def _report(url: str, number: int) -> list[list[str]]:
    answers = []
    with httpx.Client(timeout=60) as client:
        for turn, text in enumerate(TURNS):
            body = {"sender": f"pekerja-{number}", "message": text.format(village=VILLAGES[number]),
                    "metadata": {"message_id": f"w-{number}-{turn}"}}
            reply = client.post(f"{url}/webhooks/rest/webhook", json=body)
            assert reply.status_code == 200, reply.text
            answers.append([m["text"] for m in reply.json()])
    return answers


def test_two_web_processes_keep_every_conversation_in_order_and_every_ticket_once(
    served: tuple[str, str],
) -> None:
    url, database = served
    with ThreadPoolExecutor(REPORTERS) as pool:
        answers = list(pool.map(lambda n: _report(url, n), range(REPORTERS)))
    assert all(any("112-" in a for a in first) for first, _injured, _thanks in answers)
    engine = create_engine(database)
    with Session(engine) as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in").order_by(Message.id)).all()
        assert len(inbound) == REPORTERS * len(TURNS) and all(m.processed_at is not None for m in inbound)
        for conversation in session.scalars(select(Conversation)):
            mine = [m for m in inbound if m.conversation_id == conversation.id]
            # Processed in the order written: each reply answers the message before it.
            assert [m.provider_message_id for m in mine] == sorted(m.provider_message_id or "" for m in mine)
            assert sorted(mine, key=lambda m: m.processed_at) == mine  # type: ignore[arg-type, return-value]
        assert session.scalar(select(func.count()).select_from(Ticket)) == REPORTERS
        published = session.execute(select(DispatchItem.incident_id, DispatchItem.agency,
                                           DispatchItem.payload))
        firsts = [(i, a) for i, a, payload in published if payload.get("change") == "created"]
        assert len(firsts) == len(set(firsts))  # once per incident and agency
        incidents = session.scalar(select(func.count()).select_from(Incident)
                                   .where(Incident.merged_into_id.is_(None)))
        assert incidents and len({i for i, _a in firsts}) == incidents
    engine.dispose()


COLLAPSE = ["gempa, rumah roboh di pasar weleri", "tolong gempa gedung runtuh di pasar weleri",
            "rumah saya roboh kena gempa di pasar weleri"]


def test_reporters_of_one_collapse_at_once_reach_every_agency_in_the_incidents_notices(
    served: tuple[str, str],
) -> None:
    """Reporters of one collapse write at once to either process, the first reports too: they are
    one incident (no two processes open one each), and whatever each process owed the busy
    incident is published (by one of them) within a few seconds, every reporter listed, and
    relayed."""
    url, database = served
    reporters = 6

    def report(number: int) -> None:
        body = {"sender": f"gempa-{number}", "message": COLLAPSE[number % len(COLLAPSE)],
                "metadata": {"message_id": f"g-{number}"}}
        assert httpx.post(f"{url}/webhooks/rest/webhook", json=body, timeout=60).status_code == 200

    with ThreadPoolExecutor(reporters) as pool:
        list(pool.map(report, range(reporters)))
    engine = create_engine(database)
    with Session(engine) as session:
        numbers = sorted(f"112-{t.id:06d}" for t in session.scalars(select(Ticket)))
        assert len(numbers) == reporters
        [incident] = session.scalars(select(Incident).where(Incident.merged_into_id.is_(None))).all()
        deadline = time.monotonic() + 10
        while True:
            session.expire_all()
            notices = session.execute(
                select(DispatchItem.agency, DispatchItem.payload, DispatchItem.relayed_at)
                .where(DispatchItem.incident_id == incident.id).order_by(DispatchItem.id)).all()
            last = {agency: payload for agency, payload, _at in notices}
            relayed = all(at is not None for _agency, _payload, at in notices)
            if last and relayed and all(sorted(p["tickets"]) == numbers for p in last.values()):
                break
            assert time.monotonic() < deadline, [p["tickets"] for p in last.values()]
            time.sleep(0.2)
        assert set(last) == set(incident.agencies) and incident.publish_owed is None
        per_agency = {agency: sum(1 for a, _p, _at in notices if a == agency) for agency in last}
        assert all(count <= reporters for count in per_agency.values()), per_agency  # never twice a change
    engine.dispose()
