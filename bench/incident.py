"""Incident benchmark: what one reporter's update costs when many reporters share the incident.

    .venv/bin/python bench/incident.py [--reporters 1,10,50] [--updates 40] [--sqlite]

In an earthquake dozens of people report one collapse; each notice of the incident carries every
reporter in it. This opens one incident with N reporters (each conversation holding a dialogue
tracker the size a four-turn report leaves, about 12 kB), then times `TicketDesk.update` of one
reporter after the other, two ways: within a second of the incident's last notice (the update
is owed to the next notice: what a busy incident costs a turn), and after it (the update
publishes the incident). Then the owed notice itself (`publish_owed`: one a second at most,
however many updates it holds). Milliseconds and SQL statements of each, and the size of the
published document. PostgreSQL on this machine (a schema of its own, emptied first) unless
--sqlite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, select, update  # noqa: E402

from bench.load import fresh_schema  # noqa: E402
from bot.services import load_rules  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from bot.storage.models import Conversation, DispatchItem, Incident, Message, utcnow  # noqa: E402
from bot.tickets.desk import PUBLISH_GAP, TicketDesk  # noqa: E402
from bot.tickets.views import TicketDetails  # noqa: E402

SCHEMA = "sigap_bench_incident"
PLACE = {"text": "pasar weleri", "lat": -6.97, "lon": 110.07, "source": "gazetteer",
         "precision": "district", "admin": {"code": "33.24.10"}}


def tracker(n: int) -> dict[str, Any]:
    """A tracker shaped as a four-turn report leaves it: 40 events, a tenth of them the reporter's
    messages with their parse (intent ranking, entities)."""
    ranking = [{"name": f"intent_{i}", "confidence": 0.01 * i} for i in range(10)]
    events: list[dict[str, Any]] = []
    for turn in range(4):
        events.append({"event": "user", "text": f"pesan {turn} dari pelapor {n}", "timestamp": 1.0,
                       "parse_data": {"intent": ranking[0], "intent_ranking": ranking,
                                      "entities": [{"entity": "location", "value": "pasar weleri",
                                                    "start": 0, "end": 12, "extractor": "gazetteer"}],
                                      "text": f"pesan {turn}"}, "metadata": {"channel": "rest"}})
        events += [{"event": "slot", "name": f"slot_{k}", "value": "nilai", "timestamp": 1.0}
                   for k in range(4)]
        events += [{"event": "action", "name": "action_report", "timestamp": 1.0, "policy": None}] * 2
        events += [{"event": "bot", "text": "Bantuan sedang menuju lokasi. " * 5, "timestamp": 1.0}] * 3
    return {"slots": {"quiet_mode": False, "silenced": False, "location": "pasar weleri"}, "events": events}


def database(sqlite: bool, folder: Path) -> Database:
    db = Database(f"sqlite:///{folder / 'incident.db'}" if sqlite else fresh_schema(SCHEMA))
    db.create_schema()
    return db


def run(reporters: int, updates: int, sqlite: bool) -> str:
    with tempfile.TemporaryDirectory() as folder:
        db = database(sqlite, Path(folder))
        desk = TicketDesk(db, load_rules(Settings(_env_file=None)))  # type: ignore[call-arg]
        conversations = []
        with db.session() as session:
            for n in range(reporters):
                row = Conversation(channel="rest", sender_id=f"bench-{n}", tracker=tracker(n))
                session.add(row)
                session.flush()
                session.add(Message(conversation_id=row.id, channel="rest", direction="in",
                                    text="gedung runtuh", created_at=utcnow()))
                conversations.append(row.id)
        details = TicketDetails(location_text="pasar weleri", location=PLACE)
        tickets = [desk.open(c, "building_collapse", "id", details) for c in conversations]
        assert len({t.incident_id for t in tickets}) == 1, "the reports should be one incident"
        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))
        owed = [_timed(desk, tickets[i % reporters].id, i, statements) for i in range(updates)]
        later = utcnow() + PUBLISH_GAP
        start, counted = time.perf_counter(), len(statements)
        desk.publish_owed(now=later)
        notice = ((time.perf_counter() - start) * 1000, len(statements) - counted)
        published = []
        for i in range(updates):
            with db.session() as session:  # the gap has passed: this update publishes
                session.execute(update(Incident).values(published_at=utcnow() - 2 * PUBLISH_GAP))
            published.append(_timed(desk, tickets[i % reporters].id, i, statements))
        with db.session() as session:
            payload = session.scalars(select(DispatchItem.payload).order_by(DispatchItem.id.desc())).first()
        size = len(str(payload)) / 1000
        db.dispose()
    return (f"{reporters:3d} reporters: update within the gap (owed) {_summary(owed)}; "
            f"after it (published) {_summary(published)}; the owed notice {notice[0]:6.1f} ms, "
            f"{notice[1]} statements; document {size:5.1f} kB")


def _timed(desk: TicketDesk, ticket_id: int, i: int, statements: list[str]) -> tuple[float, int]:
    """One reporter's update: milliseconds, statements."""
    counted, start = len(statements), time.perf_counter()
    desk.update(ticket_id, TicketDetails(description=f"masih ada orang di dalam {i}"))
    return (time.perf_counter() - start) * 1000, len(statements) - counted


def _summary(runs: list[tuple[float, int]]) -> str:
    times = sorted(ms for ms, _n in runs)
    return (f"p50 {statistics.median(times):6.1f} ms, p90 {times[int(len(times) * 0.9)]:6.1f} ms, "
            f"{statistics.mean(n for _ms, n in runs):4.1f} statements")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reporters", default="1,10,50")
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    for n in (int(r) for r in args.reporters.split(",")):
        print(run(n, args.updates, args.sqlite), flush=True)


if __name__ == "__main__":
    main()
