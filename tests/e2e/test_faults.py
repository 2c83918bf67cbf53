"""Faults while reports are flowing, with the real servers: Redis stopped and started again,
PostgreSQL restarted, a web process killed with SIGKILL in the middle of conversations. Reporters
write as a provider delivers: a message that got no 200 is sent again with the same id. After
recovery every message is stored once and processed, every report has one ticket that went on
where it was, every notice is in Redis once, and nothing ever got a 500."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis import Redis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bot.storage.models import DispatchItem, Message, Ticket
from tests.conftest import IN_CI, free_port, fresh_postgres, require_server

REPORTERS = 8
SCRIPT = ["kebakaran rumah di desa {village} kendal", "tidak ada yang luka", "apinya makin besar",
          "tetangga sudah keluar semua", "damkar belum datang", "terima kasih"]
VILLAGES = ["sumberrejo", "kaliwungu", "weleri", "boja", "cepiring", "patebon", "brangsong", "pegandon"]
PG_CLUSTER = ("15", "main")


@dataclass
class Seen:
    """What the provider side saw: every status answered, by message id."""

    statuses: Counter[int] = field(default_factory=Counter)
    accepted: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class PrivateRedis:
    """A Redis server of our own on a free port, started from the machine's redis-server, that a
    test may stop and start without touching the one every other test uses."""

    def __init__(self, directory: Path) -> None:
        require_server("Redis", "127.0.0.1", 6379)
        binary = shutil.which("redis-server")
        if binary is None:
            message = "no redis-server binary to start a private Redis"
            pytest.fail(message) if IN_CI else pytest.skip(message)
        self.binary = str(binary)
        self.port, self.directory = free_port(), directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.directory)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                if Redis.from_url(self.url).ping():
                    return
            except Exception:  # not up yet
                time.sleep(0.05)
        pytest.fail("private Redis did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # as a crash: no save, nothing kept
            self.process.wait(timeout=10)
            self.process = None


def _pg(action: str) -> None:
    subprocess.run(["pg_ctlcluster", *PG_CLUSTER, action], check=True, timeout=120)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def served(postgres_schema: str, models_dir: Path, tmp_path: Path,
           redis_server: PrivateRedis) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    database, port = fresh_postgres(), free_port()
    env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": redis_server.url,
           "MODELS_DIR": str(models_dir), "PUBLIC_URL": "http://testserver"}
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--workers", "2", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while (tmp_path / "serve.log").read_text().count("NLU model loaded") < 2 or not _ready(url):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        yield url, database, process
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()
        if subprocess.run(["pg_ctlcluster", *PG_CLUSTER, "status"], check=False).returncode != 0:
            _pg("start")  # never leave the machine's PostgreSQL down for the tests after this one


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _post(url: str, sender: str, text: str, message_id: str, seen: Seen) -> int:
    """One delivery attempt; the status, or 0 for no answer at all (a connection cut)."""
    body = {"sender": sender, "message": text, "metadata": {"message_id": message_id}}
    try:
        status = httpx.post(f"{url}/webhooks/rest/webhook", json=body, timeout=30).status_code
    except httpx.HTTPError:
        status = 0
    with seen.lock:
        seen.statuses[status] += 1
        if status == 200:
            seen.accepted.add(message_id)
    return status


def _deliver(url: str, sender: str, text: str, message_id: str, seen: Seen) -> None:
    """As a provider does: again, with the same id, until the answer is a 200."""
    deadline = time.monotonic() + 180
    while _post(url, sender, text, message_id, seen) != 200:
        assert time.monotonic() < deadline, f"{message_id} never accepted"
        time.sleep(0.5)


def _reporter(url: str, number: int, seen: Seen) -> None:
    time.sleep(number * 0.4)
    for turn, text in enumerate(SCRIPT):
        _deliver(url, f"korban-{number}", text.format(village=VILLAGES[number]), f"f-{number}-{turn}", seen)
        time.sleep(1.0)


def _web_children(parent: int) -> list[int]:
    """uvicorn's worker processes (spawned: their command line runs multiprocessing's spawn_main)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            found.append(int(entry.name))
    return found


def _faults(url: str, redis_server: PrivateRedis, process: subprocess.Popen[bytes],
            seen: Seen) -> dict[str, int]:
    """Each fault in turn while the reporters write; what a message sent meanwhile was answered."""
    answered = {}
    time.sleep(2.0)
    redis_server.stop()
    answered["redis down"] = _post(url, "saksi-redis", "ada kecelakaan di jalan raya kaliwungu",
                                   "probe-redis", seen)
    time.sleep(2.0)
    redis_server.start()
    time.sleep(2.0)
    _pg("stop")
    answered["database down"] = _post(url, "saksi-db", "ada kecelakaan di jalan raya weleri",
                                      "probe-db", seen)
    time.sleep(1.0)
    _pg("start")
    time.sleep(1.5)
    children = _web_children(process.pid)
    assert len(children) == 2, children
    os.kill(children[0], signal.SIGKILL)
    return answered


def test_faults_while_reports_flow_lose_nothing_and_duplicate_nothing(
    served: tuple[str, str, subprocess.Popen[bytes]], redis_server: PrivateRedis,
) -> None:
    url, database, process = served
    seen = Seen()
    with ThreadPoolExecutor(REPORTERS + 1) as pool:
        writing = [pool.submit(_reporter, url, n, seen) for n in range(REPORTERS)]
        answered = pool.submit(_faults, url, redis_server, process, seen).result(timeout=300)
        for reporter in writing:
            reporter.result(timeout=300)
    # A message that arrived while Redis or the database was down was refused with a 503 (the
    # database one could not be stored): the provider sends it again, and it is taken then.
    assert answered == {"redis down": 503, "database down": 503}
    _deliver(url, "saksi-redis", "ada kecelakaan di jalan raya kaliwungu", "probe-redis", seen)
    _deliver(url, "saksi-db", "ada kecelakaan di jalan raya weleri", "probe-db", seen)
    assert set(seen.statuses) <= {200, 503, 0}, seen.statuses  # never a 500

    engine = create_engine(database)
    expected = {f"f-{n}-{t}" for n in range(REPORTERS) for t in range(len(SCRIPT))}
    expected |= {"probe-redis", "probe-db"}
    deadline = time.monotonic() + 90
    with Session(engine) as session:
        while True:
            inbound = session.execute(select(Message.provider_message_id, Message.processed_at)
                                      .where(Message.direction == "in")).all()
            relayed = session.scalar(select(func.count()).select_from(DispatchItem)
                                     .where(DispatchItem.relayed_at.is_(None)))
            if all(p is not None for _i, p in inbound) and len(inbound) == len(expected) and relayed == 0:
                break
            assert time.monotonic() < deadline, f"{len(inbound)} stored, {relayed} notices not relayed"
            time.sleep(1.0)
            session.expire_all()
        ids = [i for i, _p in inbound]
        assert sorted(ids) == sorted(expected)  # every message stored, each once
        tickets = session.scalars(select(Ticket)).all()
        by_reporter = Counter(t.conversation.sender_id for t in tickets)
        assert all(by_reporter[f"korban-{n}"] == 1 for n in range(REPORTERS)), by_reporter
        # Each report went on where it was: the answer to "is anyone hurt?" is on its ticket.
        reports = [t for t in tickets if t.conversation.sender_id.startswith("korban")]
        assert [t.people_injured for t in reports] == ["tidak"] * REPORTERS
        items = session.execute(select(DispatchItem.id, DispatchItem.incident_id, DispatchItem.agency,
                                       DispatchItem.payload)).all()
    engine.dispose()
    created = [(incident, agency) for _id, incident, agency, payload in items
               if payload.get("change") == "created"]
    assert len(created) == len(set(created))  # each incident published once to each agency
    # Every notice is in Redis once, including those relayed before Redis lost everything.
    client = Redis.from_url(redis_server.url)
    in_redis = [int(entry[1][b"item"]) for key in client.scan_iter(match="sigap:*")
                if client.type(key) == b"stream" for entry in client.xrange(key)]
    assert sorted(in_redis) == sorted(i for i, *_rest in items)
