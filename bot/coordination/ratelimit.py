"""Rate limits (console logins now; senders later): at most N hits per key in a window.

In-process (MemoryLimiter) or Redis (RedisLimiter, shared by every process), one interface,
one test suite. A fixed window per key: simple, and enough to stop password guessing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

KEY = "sigap:rate:{name}:{key}"


class RateLimiter:
    """`hit` counts one attempt and says whether it is still within the limit."""

    def __init__(self, name: str, limit: int, window_seconds: float) -> None:
        self.name, self.limit, self.window = name, limit, window_seconds

    async def hit(self, key: str) -> bool:
        """Count an attempt for `key`; False once more than `limit` fell in the window."""
        raise NotImplementedError

    async def exceeded(self, key: str) -> bool:
        """Whether the key has used up its attempts in this window (counts nothing)."""
        raise NotImplementedError

    async def reset(self, key: str) -> None:
        """Forget a key's attempts (a successful login)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections."""


class MemoryLimiter(RateLimiter):
    """One process: counts in a dict, with the clock injectable for tests."""

    def __init__(self, name: str, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name, limit, window_seconds)
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str) -> bool:
        now = self.clock()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        self._windows[key] = (start, count + 1)
        if len(self._windows) > 100_000:  # a flood of keys must not grow without bound
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < self.window}
        return count + 1 <= self.limit

    async def exceeded(self, key: str) -> bool:
        start, count = self._windows.get(key, (self.clock(), 0))
        return self.clock() - start < self.window and count >= self.limit

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisLimiter(RateLimiter):
    """Several processes: INCR with an expiry, one key per window."""

    def __init__(self, name: str, limit: int, window_seconds: float, url: str) -> None:
        super().__init__(name, limit, window_seconds)
        self.redis = Redis.from_url(url)

    async def hit(self, key: str) -> bool:
        name = KEY.format(name=self.name, key=key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, max(1, int(self.window)), nx=True)
            count, _ = await pipe.execute()
        return int(count) <= self.limit

    async def exceeded(self, key: str) -> bool:
        count = await self.redis.get(KEY.format(name=self.name, key=key))
        return int(count or 0) >= self.limit

    async def reset(self, key: str) -> None:
        await self.redis.delete(KEY.format(name=self.name, key=key))

    async def close(self) -> None:
        await self.redis.aclose()


def build_limiter(name: str, limit: int, window_seconds: float, redis_url: str | None) -> RateLimiter:
    """Redis when REDIS_URL is set, else in-process."""
    if redis_url:
        return RedisLimiter(name, limit, window_seconds, redis_url)
    return MemoryLimiter(name, limit, window_seconds)
