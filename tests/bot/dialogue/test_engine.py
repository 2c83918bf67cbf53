"""The embedded engine: rules, forms, slot mappings and session expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.dialogue.engine import Engine, Turn
from bot.services import build_engine, build_services, set_current
from bot.settings import Settings

_services = None


@pytest.fixture(autouse=True)
def services(tmp_path: Path) -> Iterator[None]:
    """Real services on a SQLite file, as the actions reach them."""
    global _services
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'e.db'}")  # type: ignore[call-arg]
    _services = build_services(settings)
    set_current(_services)
    yield
    set_current(None)
    _services.db.dispose()


def _engine() -> Engine:
    assert _services is not None
    return build_engine(_services)


def _turn(intent: str, text: str = "x", **extra: Any) -> Turn:
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": [],
             "language": "id", **extra}
    return Turn(sender_id="1", channel="rest", text=text, parse=parse, metadata={})


async def test_greeting_follows_the_greeting_rule() -> None:
    engine = _engine()
    state = engine.new_state()
    replies = await engine.handle(state, _turn("greet", "halo"))
    assert replies == [{"text": "Halo, ini layanan darurat 112. Ceritakan apa yang terjadi dan di mana."}]


async def test_unknown_intent_gets_the_default_answer() -> None:
    engine = _engine()
    replies = await engine.handle(engine.new_state(), _turn("out_of_scope"))
    assert "belum paham" in replies[0]["text"]


async def test_a_quiet_conversation_starts_a_new_session_but_keeps_its_language() -> None:
    engine = _engine()
    state = engine.new_state()
    await engine.handle(state, _turn("greet"))
    state.slots["user_language"] = "en"
    state.slots["location"] = "jl merdeka"
    for event in state.events:
        event["timestamp"] = time.time() - 2 * 3600
    await engine.handle(state, _turn("greet"))
    assert state.slots["location"] is None
    assert state.slots["user_language"] == "en"
    assert any(e["event"] == "session_started" for e in state.events)


async def test_a_recent_conversation_keeps_its_session() -> None:
    engine = _engine()
    state = engine.new_state()
    await engine.handle(state, _turn("greet"))
    state.slots["location"] = "jl merdeka"
    await engine.handle(state, _turn("greet"))
    assert state.slots["location"] == "jl merdeka"
    assert not any(e["event"] == "session_started" for e in state.events)


async def test_an_answer_to_the_location_question_fills_the_slot_from_text() -> None:
    engine = _engine()
    state = engine.new_state()
    state.active_loop = "report_form"
    state.slots.update(emergency_type="fire", requested_slot="location")
    replies = await engine.handle(state, _turn("non_emergency", "belakang balai desa"))
    assert state.slots["location"] == "belakang balai desa"
    assert state.slots["requested_slot"] == "people_injured"
    assert "terluka" in replies[-1]["text"]
