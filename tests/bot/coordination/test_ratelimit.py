"""One suite for both rate limiters: in-process and Redis (shared by every process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis import Redis

from bot.coordination.ratelimit import MemoryLimiter, RateLimiter, RedisLimiter
from tests.conftest import REDIS_URL, require_server


class Clock:
    """Time as the test says: starts at a window's edge, moves only when told."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0 - 1_800_000_000.0 % 3600

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
async def make(request: pytest.FixtureRequest) -> AsyncIterator[type]:
    made: list[RateLimiter] = []
    name = f"test{id(request)}"

    def build(limit: int, window: float, clock: Clock | None = None) -> RateLimiter:
        clock = clock or Clock()
        if request.param == "memory":
            limiter: RateLimiter = MemoryLimiter(name, limit, window, clock)
        else:
            require_server("Redis", "127.0.0.1", 6379)
            limiter = RedisLimiter(name, limit, window, REDIS_URL, clock)
        made.append(limiter)
        return limiter

    yield build  # type: ignore[misc]
    for limiter in made:
        await limiter.close()
    if request.param == "redis":
        client = Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"sigap:rate:{name}:*"):
            client.delete(key)
        client.close()


async def test_the_limit_is_kept_per_key(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(3, 60)
    assert [await limiter.hit("a") for _ in range(5)] == [True, True, True, False, False]
    assert await limiter.hit("b")


async def test_exceeded_reads_without_counting(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(2, 60)
    assert not await limiter.exceeded("a")
    await limiter.hit("a")
    assert not await limiter.exceeded("a") and not await limiter.exceeded("a")
    await limiter.hit("a")
    assert await limiter.exceeded("a") and not await limiter.exceeded("b")


async def test_a_reset_forgets_the_attempts(make) -> None:  # type: ignore[no-untyped-def]
    limiter = make(1, 60)
    assert await limiter.hit("a") and not await limiter.hit("a")
    await limiter.reset("a")
    assert await limiter.hit("a")


async def test_the_window_passes_when_the_test_moves_time(make) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    limiter = make(1, 600, clock)
    assert await limiter.hit("a") and not await limiter.hit("a")
    clock.now += 599
    assert not await limiter.hit("a") and await limiter.exceeded("a")
    clock.now += 1
    assert not await limiter.exceeded("a") and await limiter.hit("a")


async def test_two_limiters_of_one_name_share_the_count_only_on_redis(make, request) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    one, other = make(2, 60, clock), make(2, 60, clock)
    await one.hit("a")
    await one.hit("a")
    shared = isinstance(one, RedisLimiter)
    assert await other.hit("a") is (not shared)
