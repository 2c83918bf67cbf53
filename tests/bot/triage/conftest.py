"""The app of the triage tests: six messages a minute make a sender too fast, and the limiters'
clock is held still by the test (their windows are numbered by it), never slept through."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.settings import Settings
from tests.conftest import RunningApp


@pytest.fixture
def app(settings: Settings) -> Iterator[RunningApp]:
    with RunningApp(settings.model_copy(update={"sender_messages_per_minute": 6})) as running:
        conversations = running.app.state.conversations
        moment = 1_800_000_000.0 - 1_800_000_000.0 % 3600 + 1
        conversations.sender_rate.clock = conversations.throttled_replies.clock = lambda: moment
        yield running
