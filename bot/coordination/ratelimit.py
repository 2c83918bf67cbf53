"""Rate limits (console logins, senders writing too fast, throttled replies): at most N hits per
key in a window.

In-process (MemoryLimiter) or Redis (RedisLimiter, shared by every process), one interface,
one test suite. Fixed windows numbered by the clock (injectable: tests move time, never sleep).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.asyncio import Redis

KEY = "sigap:rate:{name}:{key}"


class RateLimiter:
    """`hit` counts one attempt and says whether it is still within the limit."""

    def __init__(self, name: str, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.name, self.limit, self.window = name, limit, window_seconds
        self.clock = clock

    def _slot(self) -> int:
        """The number of the current window."""
        return int(self.clock() // self.window)

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
    """One process: counts in a dict."""

    def __init__(self, name: str, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, limit, window_seconds, clock)
        self._windows: dict[str, tuple[int, int]] = {}

    async def hit(self, key: str) -> bool:
        slot = self._slot()
        seen, count = self._windows.get(key, (slot, 0))
        count = count if seen == slot else 0
        self._windows[key] = (slot, count + 1)
        if len(self._windows) > 100_000:  # a flood of keys must not grow without bound
            self._windows = {k: v for k, v in self._windows.items() if v[0] == slot}
        return count + 1 <= self.limit

    async def exceeded(self, key: str) -> bool:
        seen, count = self._windows.get(key, (-1, 0))
        return seen == self._slot() and count >= self.limit

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)


class RedisLimiter(RateLimiter):
    """Several processes: INCR with an expiry, one key per window."""

    def __init__(self, name: str, limit: int, window_seconds: float, url: str,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(name, limit, window_seconds, clock)
        self.redis = Redis.from_url(url)

    def _key(self, key: str) -> str:
        return f"{KEY.format(name=self.name, key=key)}:{self._slot()}"

    async def hit(self, key: str) -> bool:
        name = self._key(key)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, max(1, int(self.window * 2)), nx=True)
            count, _ = await pipe.execute()
        return int(count) <= self.limit

    async def exceeded(self, key: str) -> bool:
        count = await self.redis.get(self._key(key))
        return int(count or 0) >= self.limit

    async def reset(self, key: str) -> None:
        await self.redis.delete(self._key(key))

    async def close(self) -> None:
        await self.redis.aclose()


def build_limiter(name: str, limit: int, window_seconds: float, redis_url: str | None,
                  clock: Callable[[], float] = time.time) -> RateLimiter:
    """Redis when REDIS_URL is set, else in-process."""
    if redis_url:
        return RedisLimiter(name, limit, window_seconds, redis_url, clock)
    return MemoryLimiter(name, limit, window_seconds, clock)
