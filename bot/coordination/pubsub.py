"""Live updates for the console: a change of a conversation is announced to every process.

In-process when one process serves (MemoryPubSub), Redis pub/sub when REDIS_URL is set
(RedisPubSub). An event says only what changed and where (ids, a kind, the region): never a
reporter's words, so nothing untrusted travels in the stream; the page fetches the rendered,
escaped view it concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger(__name__)
CHANNEL = "sigap:console"
# A subscriber that reads slower than this many events behind loses the oldest (it reloads).
QUEUE_SIZE = 256


class Subscription:
    """Events, in the order they were published, as they arrive."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)

    def put(self, event: dict[str, Any]) -> None:
        """Hand an event to the reader; the oldest goes when the reader lags far behind."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None after `timeout` seconds without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class PubSub:
    """Publish an event to every subscriber of every process."""

    async def publish(self, event: dict[str, Any]) -> None:
        """Announce an event (a JSON-able dict)."""
        raise NotImplementedError

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]:
        """Receive every event published from now on, while the block runs."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class MemoryPubSub(PubSub):
    """One process: subscribers are queues in memory."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    async def publish(self, event: dict[str, Any]) -> None:
        for subscription in list(self._subscribers):
            subscription.put(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)


class RedisPubSub(PubSub):
    """Several processes: one Redis channel; each process listens once and fans out locally."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.redis = Redis.from_url(url)
        self.channel = channel
        self._local = MemoryPubSub()
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._users = 0

    async def publish(self, event: dict[str, Any]) -> None:
        await self.redis.publish(self.channel, json.dumps(event))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        self._users += 1
        if self._listener is None or self._listener.done():
            self._ready.clear()
            self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), 10)
        try:
            async with self._local.subscribe() as subscription:
                yield subscription
        finally:
            self._users -= 1

    async def _listen(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._local.publish(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis went away: subscribers keep their queues; retry
                log.warning("console pub/sub lost Redis (%s); reconnecting", error)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self.redis.aclose()


def build_pubsub(redis_url: str | None) -> PubSub:
    """Redis pub/sub when REDIS_URL is set, else in-process."""
    return RedisPubSub(redis_url) if redis_url else MemoryPubSub()
