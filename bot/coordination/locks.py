"""Per-conversation locks so one reporter's messages are handled in order.

`ConversationLocks` is the contract; `MemoryLocks` serves one process, `RedisLocks`
(bot/locks_redis.py) several processes or machines.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager


class ConversationLocks(ABC):
    """Mutual exclusion per conversation id."""

    @abstractmethod
    def hold(self, conversation_id: int) -> AbstractAsyncContextManager[None]:
        """Hold the conversation's lock for the block."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""


class MemoryLocks(ConversationLocks):
    """One asyncio lock per conversation, dropped when nobody waits on it."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiters: dict[int, int] = {}

    async def close(self) -> None:
        """Nothing to release."""

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        """Hold the conversation's lock for the block."""
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._waiters[conversation_id] = self._waiters.get(conversation_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiters[conversation_id] -= 1
            if not self._waiters[conversation_id]:
                del self._waiters[conversation_id]
                del self._locks[conversation_id]
