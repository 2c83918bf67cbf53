"""One suite for every ConversationLocks backend: in-process and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.coordination.locks import ConversationLocks, MemoryLocks
from bot.coordination.locks_redis import RedisLocks
from tests.conftest import REDIS_URL, require_server


@pytest.fixture(params=["memory", "redis"])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[ConversationLocks]:
    if request.param == "memory":
        backend: ConversationLocks = MemoryLocks()
    else:
        require_server("Redis", "127.0.0.1", 6379)
        backend = RedisLocks(REDIS_URL)
    yield backend
    await backend.close()


async def test_one_conversation_is_handled_by_one_holder_at_a_time(
    locks: ConversationLocks,
) -> None:
    inside, most = 0, 0

    async def work() -> None:
        nonlocal inside, most
        async with locks.hold(41):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*[work() for _ in range(8)])
    assert most == 1


async def test_different_conversations_do_not_wait_for_each_other(
    locks: ConversationLocks,
) -> None:
    async with locks.hold(1):
        await asyncio.wait_for(_enter(locks, 2), timeout=2)


async def _enter(locks: ConversationLocks, conversation_id: int) -> None:
    async with locks.hold(conversation_id):
        pass


async def test_a_lock_is_free_again_after_an_error(locks: ConversationLocks) -> None:
    with pytest.raises(RuntimeError):
        async with locks.hold(7):
            raise RuntimeError("turn failed")
    await asyncio.wait_for(_enter(locks, 7), timeout=2)
