"""`sigap report`: the weekly figures of each centre from a seeded database, in the shape a
Kominfo office publishes them (contacts, real incidents, pranks, silent, information)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest

from bot.services import build_services
from bot.settings import Settings
from bot.storage.models import Contact, Conversation, Incident, Message, utcnow
from bot.triage.report import ReportError, since

# (centre, outcome, target, days ago) of the seeded contacts.
SEEDED = [
    *[("33.24", "prank", None, 1)] * 5,
    *[("33.24", "silent", None, 2)] * 4,
    ("33.24", "information", "water", 3), ("33.24", "information", "faq:cost", 3),
    ("33.24", "incident", None, 0), ("33.24", "incident", None, 0), ("33.24", "other", None, 6),
    ("33.74", "information", "rubbish", 1), ("33.74", "incident", None, 1),
    ("", "prank", None, 2),              # no place yet: the default centre's (33.24)
    ("33.24", "prank", None, 9),         # before the week
]


def _seed(settings: Settings) -> None:
    services = build_services(settings)
    now = utcnow()
    with services.db.session() as session:
        conversation = Conversation(channel="rest", sender_id="laporan-mingguan")
        session.add(conversation)
        session.flush()
        for region, outcome, target, days in SEEDED:
            moment = now - timedelta(days=days, minutes=5)
            session.add(Contact(conversation_id=conversation.id, channel="rest", region=region,
                                outcome=outcome, target=target, messages=1,
                                silent=int(outcome == "silent"), started_at=moment, last_at=moment))
        # A live incident in each centre; a cancelled one and one merged into another are not real.
        yesterday = now - timedelta(days=1)
        real = Incident(emergency_type="fire", region="33.24", status="en_route", created_at=yesterday)
        session.add_all([real, Incident(emergency_type="flood", region="33.74", created_at=yesterday),
                         Incident(emergency_type="fire", region="33.24", status="cancelled")])
        session.flush()
        session.add(Incident(emergency_type="fire", region="33.24", merged_into_id=real.id))
        session.add(Message(conversation_id=conversation.id, channel="rest", direction="in",
                            text="tolong ada kebakaran besar di desa sumberrejo", repeats=3))
    services.db.dispose()


def _report(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": ""}
    return subprocess.run([sys.executable, "-m", "bot", "report", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def _cells(output: str, starts: str) -> list[int]:
    line = next(row for row in output.splitlines() if row.startswith(starts))
    return [int(cell) for cell in line.split()[-8:]]


def test_the_weekly_report_counts_each_centre_from_the_database(settings: Settings) -> None:
    _seed(settings.model_copy(update={"redis_url": None}))
    done = _report(settings, "--since", "7d")
    assert done.returncode == 0, done.stderr
    # contacts, real incidents, reports, pranks, silent, information, other, repeats collapsed
    assert _cells(done.stdout, "33.24 ") == [15, 1, 2, 6, 4, 2, 1, 3]
    assert _cells(done.stdout, "33.74 ") == [2, 1, 1, 0, 0, 1, 0, 0]
    assert _cells(done.stdout, "All centres") == [17, 2, 3, 6, 4, 3, 1, 3]
    assert "information sent to: faq:cost 1, rubbish 1, water 1" in done.stdout
    only = _report(settings, "--since", "7d", "--region", "33.74")
    assert "33.24 " not in only.stdout and _cells(only.stdout, "33.74 ")[0] == 2
    assert _report(settings, "--region", "99.99").returncode == 2
    assert _report(settings, "--since", "kemarin").returncode == 2


def test_since_reads_spans_and_dates() -> None:
    now = utcnow()
    assert since("7d", now) == now - timedelta(days=7)
    assert since("90m", now) == now - timedelta(minutes=90)
    assert since("2026-11-25", now).date().isoformat() == "2026-11-25"
    with pytest.raises(ReportError):
        since("seminggu", now)
