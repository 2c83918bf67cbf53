"""One app per database for the console tests (REST and an SMS gateway), with operators of two
regions; PostgreSQL runs with Redis (pub/sub, login limits), SQLite without."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

import channels
from bot.console.accounts import create_operator
from bot.settings import Settings
from tests.channels.fake_sms_gateway import FakeSmsGateway
from tests.conftest import API_TOKEN, RunningApp, _fresh_redis, fresh_postgres

PASSWORD = "kendal-112-rahasia"
# regions.yml: 33.24 Kendal (the default centre), 33.74 Kota Semarang.
OPERATORS = {"sari": ("operator", ["33.24"]), "budi": ("operator", ["33.74"]),
             "tono": ("operator", ["33.24"]), "wati": ("supervisor", ["33.24"]),
             "eko": ("operator", ["33.24"])}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeSmsGateway]:
    with FakeSmsGateway() as fake:
        yield fake


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def console_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                models_dir: Path, gateway: FakeSmsGateway) -> Iterator[RunningApp]:
    redis_url = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'sigap.db'}"
    else:
        request.getfixturevalue("postgres_schema")
        url, redis_url = fresh_postgres(), _fresh_redis()
    settings = Settings(
        _env_file=None, database_url=url, redis_url=redis_url, models_dir=models_dir,  # type: ignore[call-arg]
        sigap_api_tokens=API_TOKEN, public_url="http://testserver",  # type: ignore[arg-type]
        sms_provider="android", sms_gateway_url=gateway.url, sms_gateway_login=gateway.login,
        sms_gateway_password=SecretStr(gateway.password),
        sms_gateway_signing_key=SecretStr(gateway.signing_key),
        console_login_attempts=5,
    )
    original = channels.CHANNEL_MODULES
    channels.CHANNEL_MODULES = ("rest", "sms_gateway")
    try:
        with RunningApp(settings) as running:
            for name, (role, regions) in OPERATORS.items():
                create_operator(running.services.db, name, role, regions, PASSWORD)
            yield running
    finally:
        channels.CHANNEL_MODULES = original


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no form token on the page"
    return found.group(1)


class Operator:
    """A browserless operator: an HTTP client holding a console session."""

    def __init__(self, app: RunningApp, name: str) -> None:
        self.http = httpx.Client(base_url=app.url, timeout=30)
        page = self.http.get("/console/login")
        answer = self.http.post("/console/login", data={"csrf": csrf_of(page.text), "name": name,
                                                        "password": PASSWORD})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/board", answer.text
        self.csrf = csrf_of(self.http.get("/console/board").text)

    def post(self, path: str, **form: str) -> httpx.Response:
        return self.http.post(path, data={"csrf": self.csrf, **form})

    def close(self) -> None:
        self.http.close()


Login = Callable[[str], Operator]


@pytest.fixture
def login(console_app: RunningApp) -> Iterator[Login]:
    made: list[Operator] = []

    def make(name: str) -> Operator:
        operator = Operator(console_app, name)
        made.append(operator)
        return operator

    yield make
    for operator in made:
        operator.close()
