"""The Redis Streams queue with faults, on a Redis server of the test's own (so stopping it does
not stop the machine's): a listener killed before acknowledging, Redis stopped and restarted."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bot.dispatch.redis_streams import RedisDispatchQueue
from bot.storage.database import Database
from bot.tickets.views import TicketDetails
from tests.bot.dispatch.test_dispatch_queue import conversation, make_desk
from tests.conftest import IN_CI, free_port


class OwnRedis:
    """A redis-server on a free loopback port, started and stopped by the test."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is not installed (CI=true: a missing server is a failure)")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'f.db'}")
    database.create_schema()
    yield database
    database.dispose()


def _numbers(queue: RedisDispatchQueue, agency: str) -> list[str]:
    return [d.payload["ticket_number"] for d in queue.pending(agency)]


LISTENER = """
import sys, time
from bot.dispatch.redis_streams import RedisDispatchQueue
from bot.storage.database import Database
queue = RedisDispatchQueue(Database(sys.argv[1]), sys.argv[2], consumer="doomed")
got = queue.pending("police")
print(len(got), flush=True)
time.sleep(60)  # killed here, before any ack
"""


def test_a_listener_killed_before_acknowledging_has_its_notices_delivered_once_by_another(
    db: Database, own_redis: OwnRedis, tmp_path: Path
) -> None:
    desk = make_desk(db)
    opened = [desk.open(conversation(desk, f"k{i}"), "crime", "id", TicketDetails()).number for i in range(3)]
    doomed = subprocess.Popen([sys.executable, "-c", LISTENER, db.url, own_redis.url],
                              stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert doomed.stdout is not None and doomed.stdout.readline().strip() == "3"
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    doomed.stdout.close()
    survivor = RedisDispatchQueue(db, own_redis.url, consumer="survivor", claim_idle_ms=200)
    assert survivor.pending("police") == []  # not idle long enough yet: still the dead one's
    time.sleep(0.3)
    claimed = survivor.pending("police")
    assert [d.payload["ticket_number"] for d in claimed] == opened
    for delivery in claimed:
        assert survivor.ack(delivery)
    time.sleep(0.3)
    assert survivor.pending("police") == []  # delivered once
    survivor.close()


def test_redis_stopped_and_restarted_while_tickets_are_created_loses_and_doubles_nothing(
    db: Database, own_redis: OwnRedis
) -> None:
    desk = make_desk(db)
    listener = RedisDispatchQueue(db, own_redis.url, consumer="listener")
    seen: list[str] = []

    def take() -> None:
        for delivery in listener.pending("police"):
            seen.append(delivery.payload["ticket_number"])
            assert listener.ack(delivery)

    created = [desk.open(conversation(desk, "a"), "crime", "id", TicketDetails()).number]
    take()
    created.append(desk.open(conversation(desk, "b"), "crime", "id", TicketDetails()).number)
    listener.relay()  # relayed, not yet read: lost with Redis, must come again
    own_redis.stop()
    created += [desk.open(conversation(desk, c), "crime", "id", TicketDetails()).number for c in "cd"]
    with pytest.raises(Exception):  # noqa: B017 (any Redis error: the server is down)
        listener.relay()
    own_redis.start()
    take()
    take()
    assert seen == created  # every notice, in order, once
    listener.close()
    assert Redis.from_url(own_redis.url).ping()
