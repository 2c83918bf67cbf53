"""Pranks and throttling through the REST channel: a polite reply with the centre's sanction text
and no ticket, a record that decays, throttled replies for the abusive and the too fast, and a
known prankster's real emergency dispatched with their history for the operator."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from bot.storage.models import Conversation, Message, Ticket, TicketEvent, utcnow
from bot.triage.senders import history, prank_score, pranks_this_week
from tests.conftest import API_TOKEN, RunningApp, conversation_of, rest_texts


def _seed_pranks(app: RunningApp, sender: str, count: int) -> None:
    with app.services.db.session() as session:
        found = session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one()
        found.pranks = [(utcnow() - timedelta(hours=n + 1)).isoformat() for n in range(count)]


def _stored(app: RunningApp, sender: str) -> tuple[int, int]:
    """Inbound messages of the sender, and how many of them were processed."""
    with app.services.db.session() as session:
        conversation = session.scalars(select(Conversation.id).where(Conversation.sender_id == sender)).one()
        query = select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation, Message.direction == "in")
        processed = query.where(Message.processed_at.is_not(None))
        return int(session.scalar(query) or 0), int(session.scalar(processed) or 0)


def test_score_halves_every_week_and_the_week_counts_exactly() -> None:
    now = utcnow()
    pranks = [(now - timedelta(days=days)).isoformat() for days in (0, 7, 14)]
    assert prank_score(pranks, now) == pytest.approx(1 + 0.5 + 0.25)
    assert pranks_this_week(pranks, now) == 2
    assert prank_score(["not a time"], now) == 0


def test_a_prank_gets_what_112_is_for_and_the_local_sanction_and_no_ticket(app: RunningApp) -> None:
    sender = f"iseng-{uuid.uuid4().hex[:6]}"
    answers = rest_texts(app, sender, "tes tes 123")
    assert answers[0].startswith("Ini layanan darurat 112")
    assert "sanksi" in answers[1] and "Kendal" in answers[1]
    conversation = conversation_of(app, sender)
    assert len(conversation.pranks) == 1
    with app.services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)
                              .where(Ticket.conversation_id == conversation.id)) == 0


def test_a_known_prankster_is_throttled_but_every_message_is_kept(app: RunningApp) -> None:
    sender = f"iseng-{uuid.uuid4().hex[:6]}"
    rest_texts(app, sender, "halo")
    _seed_pranks(app, sender, 6)  # hours old: a score just under 6, over the limit of 5
    assert rest_texts(app, sender, "tes doang") != []   # one reply per window
    assert rest_texts(app, sender, "wkwk iseng") == []  # then silence
    assert rest_texts(app, sender, "halo lagi") == []
    assert _stored(app, sender) == (4, 4)          # stored and understood all the same
    assert len(conversation_of(app, sender).pranks) == 8


def test_a_known_prankster_reporting_a_fire_is_dispatched_guided_and_flagged(app: RunningApp) -> None:
    sender = f"iseng-{uuid.uuid4().hex[:6]}"
    rest_texts(app, sender, "tes")
    _seed_pranks(app, sender, 3)
    answers = rest_texts(app, sender, "kebakaran rumah di desa sumberrejo kendal, tolong")
    assert any("112-" in a for a in answers) and len(answers) >= 2  # ticket, then guidance
    conversation = conversation_of(app, sender)
    assert conversation.needs_person == "prank_history"
    with app.services.db.session() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)).one()
        assert ticket.emergency_type == "fire" and "fire_rescue" in ticket.agencies
        notes = list(session.scalars(select(TicketEvent.note).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "note")))
    assert notes == ["sender history: 3 pranks this week"]
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    detail = httpx.get(f"{app.url}/api/tickets/{ticket.id}", headers=auth, timeout=30).json()
    assert any(h["note"] == "sender history: 3 pranks this week" for h in detail["history"])


def test_a_sender_writing_too_fast_gets_throttled_replies_but_an_emergency_is_answered(
    app: RunningApp,
) -> None:
    sender = f"cepat-{uuid.uuid4().hex[:6]}"
    answered = [bool(rest_texts(app, sender, f"halo {n}")) for n in range(9)]
    assert answered[:6] == [True] * 6 and answered[6] is True and answered[7:] == [False, False]
    assert rest_texts(app, sender, "banjir masuk rumah di kendal") != []


def test_a_sender_marked_abusive_is_throttled_until_cleared(app: RunningApp, settings: Settings) -> None:
    sender = f"kasar-{uuid.uuid4().hex[:6]}"
    rest_texts(app, sender, "halo")
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url or ""}
    marked = subprocess.run([sys.executable, "-m", "bot", "sender", "mark", "rest", sender, "--by", "wati"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert marked.returncode == 0, marked.stderr
    conversation = conversation_of(app, sender)
    assert conversation.abusive_by == "supervisor:wati"
    assert history(conversation) == "sender history: marked abusive by supervisor:wati"
    assert rest_texts(app, sender, "halo 1") != [] and rest_texts(app, sender, "halo 2") == []
    cleared = subprocess.run([sys.executable, "-m", "bot", "sender", "clear", "rest", sender],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert cleared.returncode == 0
    assert conversation_of(app, sender).abusive_since is None
    nobody = subprocess.run([sys.executable, "-m", "bot", "sender", "mark", "rest", "nobody-here"],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert nobody.returncode == 2
