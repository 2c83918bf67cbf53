"""Retention: a conversation quiet for longer than the centre keeps it is anonymised (texts,
address, exact place gone; type, priority, agencies, district and times kept); an open report
is never touched; the same reporter writing again is served as anyone."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from bot.settings import Settings
from bot.storage.models import Contact, Conversation, Incident, Message, Ticket, TicketEvent, utcnow
from bot.storage.retention import REMOVED, contact_hash
from tests.conftest import RunningApp, conversation_of, rest_texts


def _age(app: RunningApp, conversation_id: int, days: int) -> None:
    with app.services.db.session() as session:
        old = utcnow() - timedelta(days=days)
        session.execute(update(Conversation).where(Conversation.id == conversation_id).values(updated_at=old))
        incidents = select(Ticket.incident_id).where(Ticket.conversation_id == conversation_id)
        session.execute(update(Incident).where(Incident.id.in_(incidents)).values(updated_at=old))


def _retention(settings: Settings, days: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": ""}
    return subprocess.run([sys.executable, "-m", "bot", "retention", "--days", str(days)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def test_an_old_closed_report_is_anonymised_and_its_figures_kept(settings: Settings) -> None:
    with RunningApp(settings) as app:
        old, live = f"+62812{uuid.uuid4().int % 10**7:07d}", f"+62813{uuid.uuid4().int % 10**7:07d}"
        rest_texts(app, old, "kebakaran rumah di jl pemuda no 10 kendal, atas nama pak budi")
        rest_texts(app, live, "banjir masuk rumah di desa sumberrejo kendal")
        first, second = conversation_of(app, old), conversation_of(app, live)
        with app.services.db.session() as session:
            ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == first.id)).one()
            kept = (ticket.emergency_type, ticket.priority, list(ticket.agencies), ticket.created_at)
            district = (ticket.location.get("admin") or {}).get("regency")
        app.services.desk.set_status(ticket.id, "resolved", "dispatcher:damkar", "padam, rumah pak budi")
        _age(app, first.id, 40)
        _age(app, second.id, 40)  # old too, but its report is still open
        done = _retention(settings, 30)
        assert done.returncode == 0, done.stderr
        assert "anonymised 1 conversations" in done.stdout
        anonymous = conversation_of(app, contact_hash("rest", old))
        assert anonymous.id == first.id and anonymous.tracker == {}
        with app.services.db.session() as session:
            texts = set(session.scalars(select(Message.text).where(Message.conversation_id == first.id)))
            assert texts == {REMOVED}
            ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == first.id)).one()
            assert (ticket.emergency_type, ticket.priority, list(ticket.agencies), ticket.created_at) == kept
            assert ticket.description == REMOVED and ticket.location_text is None
            assert "lat" not in ticket.location
            assert (ticket.location.get("admin") or {}).get("regency") == district
            assert all(n == "" for n in session.scalars(select(TicketEvent.note)
                                                        .where(TicketEvent.ticket_id == ticket.id)))
            incident = session.get_one(Incident, ticket.incident_id)
            assert incident.lat is None and incident.status == "resolved"
            assert session.scalars(select(Contact.outcome).where(Contact.conversation_id == first.id)).all() \
                == ["incident"]
            untouched = session.scalars(select(Message.text)
                                        .where(Message.conversation_id == second.id)).all()
            assert "banjir masuk rumah di desa sumberrejo kendal" in untouched
        assert conversation_of(app, live).sender_id == live
        # Nothing left to do a second time; the same reporter is served again as anyone.
        assert "anonymised 0 conversations" in _retention(settings, 30).stdout
        assert rest_texts(app, old, "halo") != [] and conversation_of(app, old).id != first.id


def test_retention_needs_a_number_of_days(settings: Settings) -> None:
    assert _retention(settings, 0).returncode == 2
