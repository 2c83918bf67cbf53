"""One suite for every dispatch queue: the notice table and Redis Streams."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from bot.database import Database
from bot.dispatch import DispatchQueue, TableDispatchQueue
from bot.dispatch_redis import RedisDispatchQueue
from bot.models import Conversation
from bot.routing import Routing
from bot.settings import PROJECT_DIR
from bot.tickets import TicketDesk, TicketDetails
from tests.conftest import REDIS_URL, require_server


@pytest.fixture(params=["table", "redis"])
def desk_and_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[TicketDesk, DispatchQueue]]:
    db = Database(f"sqlite:///{tmp_path / 'q.db'}")
    db.create_schema()
    desk = TicketDesk(db, Routing.load(PROJECT_DIR / "routing.yml"))
    if request.param == "table":
        yield desk, TableDispatchQueue(db)
    else:
        require_server("Redis", "127.0.0.1", 6379)
        Redis.from_url(REDIS_URL).flushdb()
        queue = RedisDispatchQueue(db, REDIS_URL)
        yield desk, queue
        queue.close()
    db.dispose()


def _conversation(desk: TicketDesk) -> int:
    with desk.db.session() as session:
        conversation = Conversation(channel="rest", sender_id="q")
        session.add(conversation)
        session.flush()
        return conversation.id


def test_each_agency_of_a_ticket_receives_its_notice_once_acknowledged(
    desk_and_queue: tuple[TicketDesk, DispatchQueue],
) -> None:
    desk, queue = desk_and_queue
    ticket = desk.open(_conversation(desk), "fire", "id", TicketDetails(location_text="jl a"))
    for agency in ticket.agencies:
        [notice] = queue.pending(agency)
        assert notice.payload["ticket"]["number"] == ticket.number
        assert notice.payload["change"] == "created"
        assert queue.ack(agency, [notice.id]) == 1
        assert queue.pending(agency) == []
    assert queue.pending("bksda") == []


def test_unacknowledged_notices_come_back_in_order(
    desk_and_queue: tuple[TicketDesk, DispatchQueue],
) -> None:
    desk, queue = desk_and_queue
    conversation = _conversation(desk)
    ticket = desk.open(conversation, "flood", "id", TicketDetails())
    desk.update(ticket.id, TicketDetails(location_text="desa b"))
    first = queue.pending("bpbd")
    assert [n.payload["change"] for n in first] == ["created", "updated"]
    again = queue.pending("bpbd")  # nothing acknowledged: the same notices again
    assert [n.id for n in again] == [n.id for n in first]
    assert queue.ack("bpbd", [first[0].id]) == 1
    assert [n.payload["change"] for n in queue.pending("bpbd")] == ["updated"]


def test_acknowledging_twice_counts_once(desk_and_queue: tuple[TicketDesk, DispatchQueue]) -> None:
    desk, queue = desk_and_queue
    desk.open(_conversation(desk), "crime", "id", TicketDetails())
    [notice] = queue.pending("police")
    assert queue.ack("police", [notice.id]) == 1
    assert queue.ack("police", [notice.id]) == 0
