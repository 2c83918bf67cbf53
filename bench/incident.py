"""Incident benchmark: what one reporter's update costs when many reporters share the incident.

    .venv/bin/python bench/incident.py [--reporters 1,10,50] [--updates 40] [--sqlite]

In an earthquake dozens of people report one collapse; each of their updates publishes the
incident again, with every reporter in it. This opens one incident with N reporters (each
conversation holding a dialogue tracker the size a four-turn report leaves, about 12 kB), then
times `TicketDesk.update` of one reporter after the other: milliseconds and SQL statements per
update, and the size of the published document. PostgreSQL on this machine (a schema of its
own, emptied first) unless --sqlite.
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

from sqlalchemy import event, select  # noqa: E402

from bench.load import fresh_schema  # noqa: E402
from bot.services import load_rules  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.storage.database import Database  # noqa: E402
from bot.storage.models import Conversation, DispatchItem, Message, utcnow  # noqa: E402
from bot.tickets.desk import TicketDesk  # noqa: E402
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
        times = []
        for i in range(updates):
            ticket = tickets[i % reporters]
            start = time.perf_counter()
            desk.update(ticket.id, TicketDetails(description=f"masih ada orang di dalam {i}"))
            times.append((time.perf_counter() - start) * 1000)
        with db.session() as session:
            payload = session.scalars(select(DispatchItem.payload).order_by(DispatchItem.id.desc())).first()
        size = len(str(payload)) / 1000
        db.dispose()
    times.sort()
    return (f"{reporters:3d} reporters: update p50 {statistics.median(times):6.1f} ms, "
            f"p90 {times[int(len(times) * 0.9)]:6.1f} ms, {len(statements) / updates:4.1f} statements, "
            f"document {size:5.1f} kB")


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
