"""Fixtures that start real things: databases, a trained model, the app on a port."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from redis import Redis
from sqlalchemy import create_engine, select, text

from bot.settings import PROJECT_DIR, Settings
from bot.storage.models import Conversation, OutboxMessage
from nlu.model import train

# Each test process gets its own PostgreSQL schema and Redis database, so two suites
# running at once on one machine do not trample each other's tables and keys.
SCHEMA = f"sigap_test_{os.getpid()}"
POSTGRES_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_URL = f"{POSTGRES_SERVER_URL}?options=-csearch_path%3D{SCHEMA}"
REDIS_URL = f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}"
API_TOKEN = "test-dispatcher-token"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip locally, fail in CI, when a server the test needs is not running."""
    if _reachable(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing server is a failure)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once per test session from the project's data and config."""
    directory = tmp_path_factory.mktemp("models")
    train(PROJECT_DIR, directory)
    return directory


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """This process's schema on the machine's PostgreSQL, dropped at the end."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    # Pre-ping: a test restarts PostgreSQL (tests/e2e/test_faults.py) while this engine lives.
    engine = create_engine(POSTGRES_SERVER_URL, pool_pre_ping=True)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    yield SCHEMA
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    engine.dispose()


def fresh_postgres() -> str:
    """The test schema of PostgreSQL, emptied (tables and the migration version)."""
    engine = create_engine(POSTGRES_SERVER_URL)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    engine.dispose()
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: a SQLite file and the machine's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sigap.db'}"
    request.getfixturevalue("postgres_schema")
    return fresh_postgres()


def _fresh_redis() -> str:
    require_server("Redis", "127.0.0.1", 6379)
    client = Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture
def redis_url(database_url: str) -> str | None:
    """The production pairing: PostgreSQL runs with Redis, the SQLite file without."""
    return _fresh_redis() if database_url.startswith("postgresql") else None


@pytest.fixture
def settings(database_url: str, redis_url: str | None, models_dir: Path) -> Settings:
    """Settings of a test app: real database, trained model, one dispatcher token."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=redis_url,
        models_dir=models_dir,
        sigap_api_tokens=API_TOKEN,  # type: ignore[arg-type]
        public_url="http://testserver",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningApp:
    """The real app served by uvicorn on a local port, in a background thread."""

    def __init__(self, settings: Settings) -> None:
        from bot.web.app import create_app

        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # As `sigap serve` runs it: the app's own access log, none from uvicorn.
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningApp:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def services(self):  # type: ignore[no-untyped-def]
        """The app's services (database, ticket desk)."""
        return self.app.state.services


@pytest.fixture
def running_app(settings: Settings) -> Iterator[RunningApp]:
    """The app, started and stopped around a test."""
    with RunningApp(settings) as app:
        yield app


@pytest.fixture
def client(running_app: RunningApp) -> Iterator[httpx.Client]:
    """An HTTP client of the running app."""
    with httpx.Client(base_url=running_app.url, timeout=30) as http:
        yield http


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until `check()` is truthy; its value (work goes on in the app's background)."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def rest_texts(app: RunningApp, sender: str, text: str, **metadata: Any) -> list[str]:
    """A reporter's message through the REST channel; the texts of the answer."""
    body = {"sender": sender, "message": text, "metadata": metadata}
    answer = httpx.post(f"{app.url}/webhooks/rest/webhook", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return [m.get("text", "") for m in answer.json()]


def conversation_of(app: RunningApp, sender: str) -> Conversation:
    """A sender's conversation row, as stored now."""
    with app.services.db.session() as session:
        found = session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()
        session.expunge(found)
        return found


def outbox_rows(app: RunningApp) -> list[OutboxMessage]:
    """Every outbox row of the running app, oldest first."""
    with app.services.db.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
