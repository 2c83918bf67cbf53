"""One suite for every dispatch queue: the notice table and Redis Streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from redis import Redis

from bot.dispatch.queue import DispatchQueue, TableDispatchQueue
from bot.dispatch.redis_streams import RedisDispatchQueue
from bot.services import load_rules
from bot.settings import Settings
from bot.storage.database import Database
from bot.storage.models import Conversation, utcnow
from bot.tickets.desk import PUBLISH_GAP, TicketDesk
from bot.tickets.document import schema
from bot.tickets.views import TicketDetails
from tests.conftest import REDIS_URL, require_server

KENDAL = {"text": "pasar weleri", "lat": -6.97, "lon": 110.07, "source": "gazetteer",
          "precision": "district", "admin": {"regency": "Kabupaten Kendal", "code": "33.24.10"}}


def make_desk(db: Database) -> TicketDesk:
    """The desk with the project's routing, regions and priorities."""
    return TicketDesk(db, load_rules(Settings(_env_file=None)))  # type: ignore[call-arg]


@pytest.fixture(params=["table", "redis"])
def desk_and_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TicketDesk, DispatchQueue]]:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    db.create_schema()
    desk = make_desk(db)
    if request.param == "table":
        yield desk, TableDispatchQueue(db)
    else:
        require_server("Redis", "127.0.0.1", 6379)
        Redis.from_url(REDIS_URL).flushdb()
        queue = RedisDispatchQueue(db, REDIS_URL)
        yield desk, queue
        queue.close()
    db.dispose()


def conversation(desk: TicketDesk, sender: str = "q") -> int:
    with desk.db.session() as session:
        row = Conversation(channel="rest", sender_id=sender)
        session.add(row)
        session.flush()
        return row.id


def test_each_agency_of_a_ticket_receives_its_notice_once_acknowledged(
    desk_and_queue: tuple[TicketDesk, DispatchQueue],
) -> None:
    desk, queue = desk_and_queue
    ticket = desk.open(conversation(desk), "fire", "id", TicketDetails(location_text="jl a"))
    for agency in ticket.agencies:
        [notice] = queue.pending(agency)
        assert notice.payload["ticket_number"] == ticket.number
        assert notice.payload["change"] == "created"
        jsonschema.validate(notice.payload, schema())
        assert queue.ack(notice)
        assert queue.pending(agency) == []
    assert queue.pending("bksda") == []


def test_unacknowledged_notices_come_back_in_order(
    desk_and_queue: tuple[TicketDesk, DispatchQueue],
) -> None:
    desk, queue = desk_and_queue
    ticket = desk.open(conversation(desk), "flood", "id", TicketDetails())
    desk.update(ticket.id, TicketDetails(location_text="desa b"))
    desk.publish_owed(now=utcnow() + PUBLISH_GAP)  # a detail within a second of the first notice
    first = queue.pending("bpbd")
    assert [n.payload["change"] for n in first] == ["created", "updated"]
    again = queue.pending("bpbd")  # nothing acknowledged: the same notices again
    assert [n.id for n in again] == [n.id for n in first]
    assert queue.ack(first[0])
    assert [n.payload["change"] for n in queue.pending("bpbd")] == ["updated"]


def test_acknowledging_twice_counts_once(desk_and_queue: tuple[TicketDesk, DispatchQueue]) -> None:
    desk, queue = desk_and_queue
    desk.open(conversation(desk), "crime", "id", TicketDetails())
    [notice] = queue.pending("police")
    assert queue.ack(notice)
    assert not queue.ack(notice)


def test_a_listener_of_one_region_gets_only_that_regions_notices(
    desk_and_queue: tuple[TicketDesk, DispatchQueue],
) -> None:
    desk, queue = desk_and_queue
    kendal = desk.open(conversation(desk, "a"), "crime", "id", TicketDetails(location=KENDAL))
    semarang = desk.open(conversation(desk, "b"), "crime", "id", TicketDetails(location={
        **KENDAL, "admin": {"code": "33.74.01"}}))
    assert kendal.region == "33.24" and semarang.region == "33.74"
    [mine] = queue.pending("police", ["33.74"])
    assert mine.payload["ticket_number"] == semarang.number and mine.region == "33.74"
    assert {n.payload["ticket_number"] for n in queue.pending("police")} == {kendal.number, semarang.number}
