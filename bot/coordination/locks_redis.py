"""Per-conversation locks in Redis, for several Sigap processes behind one number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from bot.coordination.locks import ConversationLocks

LOCK_KEY = "sigap:lock:conversation:{id}"
# A turn takes milliseconds; a lock older than this belongs to a crashed process.
LOCK_TIMEOUT_SECONDS = 60.0


class RedisLocks(ConversationLocks):
    """redis-py's lock (SET NX PX with a token), one key per conversation."""

    def __init__(self, url: str) -> None:
        self.redis = Redis.from_url(url)

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        """Hold the conversation's lock for the block."""
        lock = self.redis.lock(
            LOCK_KEY.format(id=conversation_id), timeout=LOCK_TIMEOUT_SECONDS, sleep=0.01,
            thread_local=False,
        )
        async with lock:
            yield

    async def close(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()
