"""One app serving every channel, for attacks on every route."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

import channels
from bot.settings import Settings
from bot.storage.models import Conversation, Message, Ticket, TicketEvent
from tests.channels.fake_sms_gateway import FakeSmsGateway
from tests.channels.fake_telegram import SECRET, TOKEN, FakeTelegram
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, WHATSAPP_FROM, FakeTwilio
from tests.conftest import API_TOKEN, RunningApp, fresh_postgres

CHANNELS = ("rest", "telegram", "twilio_sms", "twilio_whatsapp", "sms_gateway")


class Fakes:
    """The providers' local servers."""

    def __init__(self, telegram: FakeTelegram, twilio: FakeTwilio, gateway: FakeSmsGateway) -> None:
        self.telegram, self.twilio, self.gateway = telegram, twilio, gateway


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    with FakeTelegram() as telegram, FakeTwilio() as twilio, FakeSmsGateway() as gateway:
        yield Fakes(telegram, twilio, gateway)


def every_channel(settings: Settings, fakes: Fakes, **extra: Any) -> Settings:
    """Telegram, Twilio WhatsApp (and its SMS route), the Android gateway for SMS, REST, the API."""
    return settings.model_copy(update={
        "telegram_bot_token": SecretStr(TOKEN), "telegram_webhook_secret": SecretStr(SECRET),
        "telegram_api_url": fakes.telegram.api_url,
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_whatsapp_from": WHATSAPP_FROM, "twilio_api_url": fakes.twilio.url,
        "sms_provider": "android", "sms_gateway_url": fakes.gateway.url,
        "sms_gateway_login": fakes.gateway.login,
        "sms_gateway_password": SecretStr(fakes.gateway.password),
        "sms_gateway_signing_key": SecretStr(fakes.gateway.signing_key),
        "outbox_first_retry_seconds": 0.05, "http_body_timeout_seconds": 1.0, **extra,
    })


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, models_dir: Path,
        fakes: Fakes) -> Iterator[RunningApp]:
    """One app per module and database (starting one costs seconds; attacks are many): tests
    compare the rows before and after, never absolute counts."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'sigap.db'}"
    else:
        request.getfixturevalue("postgres_schema")
        url = fresh_postgres()
    base = Settings(_env_file=None, database_url=url, models_dir=models_dir,  # type: ignore[call-arg]
                    sigap_api_tokens=API_TOKEN, public_url="http://testserver")  # type: ignore[arg-type]
    original = channels.CHANNEL_MODULES
    channels.CHANNEL_MODULES = CHANNELS
    try:
        with RunningApp(every_channel(base, fakes)) as running:
            yield running
    finally:
        channels.CHANNEL_MODULES = original


@pytest.fixture
def client(app: RunningApp) -> Iterator[httpx.Client]:
    """An HTTP client of the module's app."""
    with httpx.Client(base_url=app.url, timeout=30) as http:
        yield http


def stored(app: RunningApp) -> dict[str, int]:
    """Rows a request could have written."""
    with app.services.db.session() as session:
        return {model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (Conversation, Message, Ticket, TicketEvent)}
