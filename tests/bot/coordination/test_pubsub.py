"""One suite for both console pub/sub backends: in-process and Redis (several processes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.coordination.pubsub import MemoryPubSub, PubSub, RedisPubSub
from tests.conftest import REDIS_URL, require_server


@pytest.fixture(params=["memory", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PubSub, PubSub]]:
    """A publisher and a subscriber side: one object in memory, two 'processes' on Redis."""
    if request.param == "memory":
        one = MemoryPubSub()
        yield one, one
        return
    require_server("Redis", "127.0.0.1", 6379)
    channel = f"sigap:test:{id(request)}"
    publisher, subscriber = RedisPubSub(REDIS_URL, channel), RedisPubSub(REDIS_URL, channel)
    yield publisher, subscriber
    await publisher.close()
    await subscriber.close()


async def test_every_subscriber_gets_every_event_in_order(pair: tuple[PubSub, PubSub]) -> None:
    publisher, subscriber = pair
    async with subscriber.subscribe() as first, subscriber.subscribe() as second:
        for n in range(5):
            await publisher.publish({"conversation": n, "kind": "message", "region": "33.24"})
        for each in (first, second):
            got = [await each.next(5) for _ in range(5)]
            assert [e["conversation"] for e in got if e] == [0, 1, 2, 3, 4]


async def test_nothing_arrives_when_nothing_was_published(pair: tuple[PubSub, PubSub]) -> None:
    _publisher, subscriber = pair
    async with subscriber.subscribe() as subscription:
        assert await subscription.next(0.2) is None


async def test_a_subscription_that_ended_receives_no_more(pair: tuple[PubSub, PubSub]) -> None:
    publisher, subscriber = pair
    async with subscriber.subscribe() as subscription:
        await publisher.publish({"conversation": 1})
        assert (await subscription.next(5) or {}).get("conversation") == 1
    await publisher.publish({"conversation": 2})
    await asyncio.sleep(0.2)
    assert subscription.queue.empty()


async def test_a_slow_reader_keeps_the_newest_events(pair: tuple[PubSub, PubSub]) -> None:
    publisher, subscriber = pair
    async with subscriber.subscribe() as subscription:
        for n in range(300):
            await publisher.publish({"conversation": n})
        await asyncio.sleep(0.5)
        assert subscription.queue.qsize() == 256
        last = None
        while (event := await subscription.next(0.5)) is not None:
            last = event
        assert last == {"conversation": 299}
