"""The relay: notices of the table to Redis Streams, in the background (production queue)."""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from bot.dispatch.redis_streams import RedisDispatchQueue

log = logging.getLogger(__name__)
RELAY_SECONDS = 0.5


async def run(queue: RedisDispatchQueue, every: float = RELAY_SECONDS) -> None:
    """Relay until cancelled; while Redis is down the notices wait in the table, none is lost."""
    down = False
    while True:
        try:
            await asyncio.to_thread(queue.relay)
            if down:
                log.warning("Redis is back: relaying notices again")
            down = False
        except RedisError as error:
            if not down:
                log.error("Redis unreachable, notices wait in the table: %s", error)
            down = True
        except Exception:  # a database hiccup: try again next round
            log.exception("relay failed")
        await asyncio.sleep(every)
