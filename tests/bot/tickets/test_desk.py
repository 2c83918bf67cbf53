"""Routing per type and region, incidents from many reports, the deadline clock (time moved by
the test, not slept), and every published notice against schemas/ticket-v1.json."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import event, select, update

from bot.dispatch.queue import SUPERVISORS, TableDispatchQueue
from bot.runtime import worker_jobs
from bot.services import build_services
from bot.settings import Settings
from bot.storage.database import Database
from bot.storage.models import Conversation, DispatchItem, Incident, Message, utcnow
from bot.tickets.clock import escalate_due
from bot.tickets.desk import PUBLISH_GAP, OperatorEdit, TicketDesk
from bot.tickets.document import iso, schema
from bot.tickets.views import TicketDetails, TicketView
from tests.bot.dispatch.test_dispatch_queue import conversation, make_desk
from tests.conftest import fresh_postgres


def place(code: str, words: str, lat: float | None = None, lon: float | None = None,
          source: str = "gazetteer", precision: str = "district") -> dict[str, object]:
    return {"text": words, "lat": lat, "lon": lon, "source": source, "precision": precision,
            "admin": {"code": code}}


@pytest.fixture
def desk(database_url: str) -> Iterator[TicketDesk]:
    db = Database(database_url)
    db.create_schema()
    yield make_desk(db)
    _every_notice_follows_the_schema(db)
    db.dispose()


def _every_notice_follows_the_schema(db: Database) -> None:
    with db.session() as session:
        for payload in session.scalars(select(DispatchItem.payload)):
            jsonschema.validate(payload, schema())


def _after_gap() -> datetime:
    """A moment when every notice owed now is due (bot/tickets/desk.py)."""
    return utcnow() + PUBLISH_GAP + timedelta(milliseconds=1)


def _notices(desk: TicketDesk) -> list[DispatchItem]:
    with desk.db.session() as session:
        return list(session.scalars(select(DispatchItem).order_by(DispatchItem.id)))


def test_a_type_goes_to_its_agencies_and_a_region_may_route_it_its_own_way(desk: TicketDesk) -> None:
    kendal = desk.open(conversation(desk, "a"), "fallen_tree", "id",
                       TicketDetails(location=place("33.24.02", "jl raya weleri")))
    semarang = desk.open(conversation(desk, "b"), "fallen_tree", "id",
                         TicketDetails(location=place("33.74.05", "jl pemuda")))
    assert kendal.region == "33.24" and kendal.agencies == ["bpbd", "environment", "pln"]
    assert semarang.region == "33.74" and semarang.agencies == ["bpbd", "environment", "pln", "fire_rescue"]


def test_a_ticket_whose_place_comes_later_is_routed_again_to_its_centre(desk: TicketDesk) -> None:
    ticket = desk.open(conversation(desk), "fallen_tree", "id", TicketDetails())
    assert ticket.region == "33.24"  # the default centre until the place is known
    moved = desk.update(ticket.id, TicketDetails(location=place("33.74.05", "jl pemuda"),
                                                 location_text="jl pemuda"))
    assert moved.region == "33.74" and "fire_rescue" in moved.agencies
    last = _notices(desk)[-1]
    assert last.region == "33.74" and last.payload["region"]["code"] == "33.74"
    # fire_rescue is new for this incident: it gets the notice too.
    assert {n.agency for n in _notices(desk) if n.payload["change"] == "updated"} >= {"fire_rescue"}


def test_three_reporters_of_one_fire_are_one_incident_with_one_notice_per_agency_per_change(
    desk: TicketDesk,
) -> None:
    words = "kebakaran di pasar weleri kendal"
    tickets = [desk.open(conversation(desk, f"r{i}"), "fire", "id",
                         TicketDetails(description=words, location_text="pasar weleri kendal",
                                       location=place("33.24.10", "pasar weleri kendal")))
               for i in range(3)]
    assert len({t.incident_id for t in tickets}) == 1
    assert [t.joined for t in tickets] == [False, True, True]
    with desk.db.session() as session:
        [incident] = session.scalars(select(Incident).where(Incident.merged_into_id.is_(None))).all()
        assert len(incident.tickets) == 3
    agencies = tickets[0].agencies
    # Per agency: created at once; the two who joined within the second after it are owed to one
    # "merged" notice, sent when the second has passed (the publisher job).
    assert [n.payload["change"] for n in _notices(desk)] == ["created"] * len(agencies)
    assert desk.publish_owed(now=_after_gap()) == 1
    notices = _notices(desk)
    for agency in agencies:
        assert [n.payload["change"] for n in notices if n.agency == agency] == ["created", "merged"]
    assert len(notices[-1].payload["reporters"]) == 3
    assert desk.publish_owed(now=_after_gap()) == 0  # owed once, published once
    told: list[int] = []
    desk.set_status(tickets[1].id, "en_route", "dispatcher:police",
                    also=lambda _s, view: told.append(view.id))
    assert sorted(told) == sorted(t.id for t in tickets)  # every reporter is told
    assert {desk.get(t.id).status for t in tickets} == {"en_route"}
    assert [n.agency for n in _notices(desk) if n.payload["change"] == "status"] == agencies


def test_reports_far_apart_or_of_another_type_are_other_incidents(desk: TicketDesk) -> None:
    pin = dict(source="gps", precision="point")
    first = desk.open(conversation(desk, "a"), "fire", "id",
                      TicketDetails(location=place("33.24.10", "", -6.9500, 110.0700, **pin)))
    near = desk.open(conversation(desk, "b"), "fire", "id",
                     TicketDetails(location=place("33.24.10", "", -6.9520, 110.0710, **pin)))  # ~250 m
    far = desk.open(conversation(desk, "c"), "fire", "id",
                    TicketDetails(location=place("33.24.10", "", -6.9700, 110.0700, **pin)))  # ~2.2 km
    other = desk.open(conversation(desk, "d"), "flood", "id",
                      TicketDetails(location=place("33.24.10", "", -6.9500, 110.0700, **pin)))
    assert near.incident_id == first.incident_id
    assert far.incident_id != first.incident_id and other.incident_id != first.incident_id


def test_a_wrongly_merged_report_is_split_back_out(desk: TicketDesk) -> None:
    details = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    a = desk.open(conversation(desk, "a"), "fire", "id", details)
    b = desk.open(conversation(desk, "b"), "fire", "id", details)
    assert a.incident_id == b.incident_id
    split = desk.split(b.id, "operator:sari")
    assert split.incident_id != a.incident_id
    assert {n.payload["change"] for n in _notices(desk)} >= {"split"}
    # The reporter names the place again, in other words: the operator's split stands.
    again = desk.update(b.id, TicketDetails(location_text="pasar weleri kendal",
                                            location=place("33.24.10", "pasar weleri kendal")))
    assert again.incident_id == split.incident_id and not again.joined
    # Another reporter at the same place still joins the first incident.
    c = desk.open(conversation(desk, "c"), "fire", "id", details)
    assert c.incident_id in (a.incident_id, split.incident_id) and c.joined


def test_an_incident_without_movement_is_escalated_once_when_its_deadline_passes(desk: TicketDesk) -> None:
    ticket = desk.open(conversation(desk), "fire", "id", TicketDetails())
    later = utcnow() + timedelta(minutes=9)
    assert escalate_due(desk.db, desk.rules, later) == []
    past = utcnow() + timedelta(minutes=11)
    [escalated] = escalate_due(desk.db, desk.rules, past)
    assert escalated == ticket.incident_id
    assert escalate_due(desk.db, desk.rules, past + timedelta(minutes=5)) == []  # once
    supervisors = TableDispatchQueue(desk.db).pending(SUPERVISORS)
    assert [n.payload["change"] for n in supervisors] == ["escalated"]
    assert supervisors[0].payload["escalated_at"]


def test_movement_before_the_deadline_stops_the_clock(desk: TicketDesk) -> None:
    ticket = desk.open(conversation(desk), "medical", "id", TicketDetails(cues=("not_breathing",)))
    assert ticket.priority == "critical"
    desk.set_status(ticket.id, "acknowledged", "dispatcher:ambulance")
    assert escalate_due(desk.db, desk.rules, utcnow() + timedelta(hours=1)) == []


def test_a_correction_moves_the_report_out_of_an_incident_of_the_old_type(desk: TicketDesk) -> None:
    details = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    a = desk.open(conversation(desk, "a"), "fire", "id", details)
    b = desk.open(conversation(desk, "b"), "fire", "id", details)
    changed, old = desk.retype(b.id, "electrical_gas", TicketDetails())
    assert old == "fire" and changed.incident_id != a.incident_id


def test_a_report_corrected_to_the_type_reported_at_its_place_joins_that_incident(desk: TicketDesk) -> None:
    details = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    fire = desk.open(conversation(desk, "a"), "fire", "id", details)
    unsure = desk.open(conversation(desk, "b"), "unknown", "id", details)
    assert unsure.incident_id != fire.incident_id
    changed, old = desk.retype(unsure.id, "fire", TicketDetails())
    assert (old, changed.incident_id, changed.joined) == ("unknown", fire.incident_id, True)
    [left] = [n for n in _notices(desk) if n.incident_id == unsure.incident_id][-1:]
    assert (left.payload["change"], left.payload["tickets"]) == ("merged", [unsure.number])


def test_each_reporter_of_an_incident_is_published_with_when_they_first_wrote(desk: TicketDesk) -> None:
    details = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    firsts = {}
    conversations = [conversation(desk, name) for name in ("a", "b", "c")]
    with desk.db.session() as session:
        for n, ident in enumerate(conversations):
            firsts[ident] = utcnow() - timedelta(minutes=10 - n)
            session.add_all([Message(conversation_id=ident, channel="rest", direction="in", text="api",
                                     created_at=firsts[ident]),
                             Message(conversation_id=ident, channel="rest", direction="in", text="tolong",
                                     created_at=firsts[ident] + timedelta(minutes=1))])
    tickets = [desk.open(ident, "fire", "id", details) for ident in conversations]
    assert len({t.incident_id for t in tickets}) == 1
    desk.publish_owed(now=_after_gap())
    reporters = _notices(desk)[-1].payload["reporters"]
    by_number = {r["ticket_number"]: r["first_message_at"] for r in reporters}
    assert by_number == {t.number: iso(firsts[t.conversation_id]) for t in tickets}


def test_a_reporter_whose_phone_must_stay_quiet_is_published_as_silent(desk: TicketDesk) -> None:
    """Quiet replies or a stop word (dialogue slots) or an attacker nearby (a cue): no call back.
    Republishing an incident reads two slots of each reporter, never their whole dialogue."""
    details = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    names = {"quiet": {"quiet_mode": True}, "stopped": {"silenced": True}, "plain": {"quiet_mode": False},
             "armed": {}, "new": None}
    ids = {name: conversation(desk, name) for name in names}
    with desk.db.session() as session:
        for name, slots in names.items():
            if slots is not None:
                row = session.get(Conversation, ids[name])
                assert row is not None
                row.tracker = {"slots": slots, "events": [{"event": "user", "text": "x" * 500}] * 20}
    tickets = {name: desk.open(ids[name], "fire", "id", details) for name in names}
    statements: list[str] = []
    event.listen(desk.db.engine, "before_cursor_execute", lambda _c, _k, sql, *_a: statements.append(sql))
    desk.update(tickets["armed"].id, TicketDetails(cues=["weapon"]))
    desk.publish_owed(now=_after_gap())
    whole = re.compile(r"(SELECT |, )conversation(_\d+)?\.tracker\b")  # the column, not a path in it
    assert statements and not [sql for sql in statements if whole.search(sql)]
    accessibility = {r["ticket_number"]: r["accessibility"] for r in _notices(desk)[-1].payload["reporters"]}
    silent = {name for name, ticket in tickets.items() if "silent" in accessibility[ticket.number]}
    assert silent == {"quiet", "stopped", "armed"}
    assert all(a[0] == "text_only" for a in accessibility.values()) and len(accessibility) == 5


def test_a_turn_reads_its_ticket_once_until_it_changes_one(desk: TicketDesk) -> None:
    """A turn's actions ask for their ticket several times: read once; a change the turn makes is
    what it reads next; an operator's change between two turns is seen by the next."""
    conv = conversation(desk, "m")
    opened = desk.open(conv, "fire", "id", TicketDetails(location_text="jl kenanga"))
    reads: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_rest: object) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            reads.append(sql)

    event.listen(desk.db.engine, "before_cursor_execute", count)

    async def turn(injured: str | None = None) -> list[str]:
        async with desk.db.transaction():
            before = len(reads)
            seen = [desk.open_for_conversation(conv), desk.get(opened.id), desk.open_for_conversation(conv)]
            assert len(reads) == before + 1, reads[before:]
            if injured:
                desk.update(opened.id, TicketDetails(people_injured=injured))
                after_write = len(reads)
                assert desk.get(opened.id).people_injured == injured
                assert len(reads) == after_write
            return [f"{view.id} {view.location_text}" for view in seen if view is not None]

    assert asyncio.run(turn("2")) == [f"{opened.id} jl kenanga"] * 3
    desk.operator_edit(opened.id, "op", OperatorEdit(location_text="jl melati 4"))  # between two turns
    assert asyncio.run(turn()) == [f"{opened.id} jl melati 4"] * 3
    before = len(reads)
    assert desk.get(opened.id).people_injured == "2" and desk.get(opened.id).location_text == "jl melati 4"
    assert len(reads) == before + 2  # outside a turn, each read reads


def test_only_a_new_place_makes_an_update_look_for_another_reports_incident(desk: TicketDesk) -> None:
    market = TicketDetails(location_text="pasar weleri", location=place("33.24.10", "pasar weleri"))
    first = desk.open(conversation(desk, "a"), "fire", "id", market)
    later = desk.open(conversation(desk, "b"), "fire", "id", TicketDetails(description="kebakaran"))
    assert later.incident_id != first.incident_id
    looked: list[str] = []
    candidates = "ORDER BY incident.updated_at DESC"  # find_match's query
    event.listen(desk.db.engine, "before_cursor_execute",
                 lambda _c, _k, sql, *_a: looked.append(sql) if candidates in sql else None)
    injured = desk.update(later.id, TicketDetails(people_injured="2"))
    assert (injured.incident_id, injured.joined, looked) == (later.incident_id, False, [])
    moved = desk.update(later.id, market)
    assert (moved.incident_id, moved.joined, len(looked)) == (first.incident_id, True, 1)
    desk.publish_owed(now=_after_gap())  # joined within a second of its incident's notice: owed
    # The incident the later report leaves hears where it went, naming the report it held.
    [last] = [n for n in _notices(desk) if n.incident_id == later.incident_id][-1:]
    assert (last.payload["change"], last.payload["status"], last.payload["tickets"]) == (
        "merged", "cancelled", [later.number])
    [joined] = [n for n in _notices(desk) if n.incident_id == first.incident_id][-1:]
    assert last.payload["history"][-1]["note"] == f"merged into {joined.payload['incident_id']}"
    assert joined.payload["tickets"] == [first.number, later.number]


def test_two_first_reports_of_one_emergency_at_the_same_moment_are_one_incident(desk: TicketDesk) -> None:
    """Two turns (two processes in production) open tickets of one fire at once: the second looks
    for the fire's incident while the first is still writing it, and must wait for it, not open
    a second incident the agencies would take for another fire."""
    first_conversation, second_conversation = conversation(desk, "a"), conversation(desk, "b")
    second: list[TicketView] = []
    racer = threading.Thread(target=lambda: second.append(desk.open(second_conversation, "fire", "id", FIRE)))
    opener = threading.get_ident()

    def midway(_connection: object, _cursor: object, sql: str, *_rest: object) -> None:
        if "ORDER BY incident.updated_at DESC" in sql and threading.get_ident() == opener and not racer.ident:
            racer.start()
            time.sleep(0.5)  # the second report looks while the first's incident is not yet written

    event.listen(desk.db.engine, "before_cursor_execute", midway)
    first = desk.open(first_conversation, "fire", "id", FIRE)
    racer.join(15)
    assert racer.ident and not racer.is_alive() and second, "the second report never finished"
    assert (second[0].incident_id, second[0].joined) == (first.incident_id, True)
    with desk.db.session() as session:
        assert len(session.scalars(select(Incident.id)).all()) == 1


# -- a busy incident: one notice a second -------------------------------------------------------
FIRE = TicketDetails(description="kebakaran pasar weleri", location_text="pasar weleri kendal",
                     location=place("33.24.10", "pasar weleri kendal"))


def _changes(desk: TicketDesk, incident_id: int | None) -> list[str]:
    """The change each notice of the incident named, one per notice (not per agency)."""
    with desk.db.session() as session:
        rows = session.execute(select(DispatchItem.payload["change"].as_string(), DispatchItem.created_at)
                               .where(DispatchItem.incident_id == incident_id).order_by(DispatchItem.id))
        return [change for change, _at in dict.fromkeys(rows)]


def _gap_passes(desk: TicketDesk, incident_id: int | None) -> None:
    """The incident's last notice is older than the gap now."""
    with desk.db.session() as session:
        session.execute(update(Incident).where(Incident.id == incident_id)
                        .values(published_at=utcnow() - PUBLISH_GAP - timedelta(seconds=1)))


def test_a_busy_incident_owes_its_reporters_changes_to_one_notice(desk: TicketDesk) -> None:
    """A collapse with dozens of reporters must not publish every reporter once per update: within
    a second of its last notice, a reporter joining and a reporter's details are owed; the
    publisher job sends one notice with all of them once the second has passed."""
    first = desk.open(conversation(desk, "a"), "fire", "id", FIRE)
    second = desk.open(conversation(desk, "b"), "fire", "id", FIRE)
    assert second.joined and second.incident_id == first.incident_id
    injured = desk.update(first.id, TicketDetails(people_injured="2 orang luka"))
    assert injured.people_injured == "2 orang luka"  # the reporter's ticket has it at once
    nearby = place("33.24.10", "pasar weleri blok b")  # a place in the incident's centre
    desk.update(second.id, TicketDetails(location_text="pasar weleri blok b", location=nearby))
    assert _changes(desk, first.incident_id) == ["created"]
    assert desk.publish_owed() == 0  # the second has not passed
    assert desk.publish_owed(now=_after_gap()) == 1
    assert _changes(desk, first.incident_id) == ["created", "merged"]  # the stronger change named
    notice = _notices(desk)[-1].payload
    assert [r["ticket_number"] for r in notice["reporters"]] == [first.number, second.number]
    assert notice["reporters"][0]["people_injured"] == "2 orang luka"
    assert desk.get(second.id).location_text == "pasar weleri blok b"
    assert {"merged", "updated"} <= {h["kind"] for h in notice["history"]}
    assert {n.agency for n in _notices(desk) if n.payload["change"] == "merged"} == set(first.agencies)
    assert desk.publish_owed(now=_after_gap()) == 0  # owed once, published once
    with desk.db.session() as session:
        incident = session.get_one(Incident, first.incident_id)
        assert incident.publish_owed is None and incident.published_at is not None


def test_a_change_after_the_gap_is_published_at_once_with_what_was_owed(desk: TicketDesk) -> None:
    first = desk.open(conversation(desk, "a"), "fire", "id", FIRE)
    desk.open(conversation(desk, "b"), "fire", "id", FIRE)  # owed: "merged"
    _gap_passes(desk, first.incident_id)
    desk.update(first.id, TicketDetails(cues=("trapped",)))
    assert _changes(desk, first.incident_id) == ["created", "merged"]
    assert len(_notices(desk)[-1].payload["reporters"]) == 2
    assert desk.publish_owed(now=_after_gap()) == 0  # nothing left owed


def test_a_new_place_a_new_type_and_an_operators_word_are_published_at_once(desk: TicketDesk) -> None:
    opened = desk.open(conversation(desk, "a"), "fire", "id", FIRE)
    moved = desk.update(opened.id, TicketDetails(location_text="jl pemuda",
                                                 location=place("33.74.05", "jl pemuda")))
    assert moved.region == "33.74"  # its centre's operators see it now, not in a second
    desk.add_type(opened.id, "medical", TicketDetails())
    desk.operator_edit(opened.id, "operator:sari", OperatorEdit(note="pemilik rumah dihubungi"))
    assert _changes(desk, opened.incident_id) == ["created", "updated", "updated", "updated"]
    assert desk.publish_owed(now=_after_gap()) == 0


def test_a_busy_incident_another_process_is_publishing_is_left_to_it(postgres_schema: str) -> None:
    """Two worker processes: the incident one of them holds is skipped by the other, not waited for
    and not published twice."""
    db = Database(fresh_postgres())
    db.create_schema()
    desk = make_desk(db)
    first = desk.open(conversation(desk, "a"), "fire", "id", FIRE)
    desk.open(conversation(desk, "b"), "fire", "id", FIRE)
    with db.engine.connect() as other:
        other.execute(select(Incident.id).where(Incident.id == first.incident_id).with_for_update())
        assert desk.publish_owed(now=_after_gap()) == 0
        other.rollback()
    assert desk.publish_owed(now=_after_gap()) == 1
    assert _changes(desk, first.incident_id) == ["created", "merged"]
    db.dispose()


def test_the_worker_sends_what_a_busy_incident_owes(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'w.db'}")  # type: ignore[call-arg]
    services = build_services(settings)
    desk = services.desk
    first = desk.open(conversation(desk, "a"), "fire", "id", FIRE)
    desk.open(conversation(desk, "b"), "fire", "id", FIRE)

    async def work() -> float:
        jobs = [asyncio.create_task(job) for job in worker_jobs(services)]
        start = time.monotonic()
        try:
            while _changes(desk, first.incident_id) != ["created", "merged"]:
                assert time.monotonic() - start < 5, _changes(desk, first.incident_id)
                await asyncio.sleep(0.05)
            return time.monotonic() - start
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)

    waited = asyncio.run(work())
    assert waited <= PUBLISH_GAP.total_seconds() + 0.5  # the gap, and one look of the job
    services.db.dispose()
