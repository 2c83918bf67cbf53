"""Open-loop HTTP load generator for bench/load.py, run in a process of its own.

    python bench/loadgen.py SCHEDULE.jsonl RESULTS.jsonl HOST PORT

Each line of the schedule is one request: {"at": seconds from the start, "id": ..., "request":
the raw HTTP/1.1 request as latin-1 text}. Every request leaves at its time whether or not the
earlier ones were answered (open loop: a slow server shows as queueing, not as a slower offer).
Requests are written pre-built on kept-alive connections, so the generator costs far less per
request than the server it measures. Each result line: {"id", "sent" (seconds), "ms", "status"}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

CONNECTIONS = 256


class Pool:
    """Idle kept-alive connections; a request that finds none opens a new one."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle:
            return self.idle.pop()
        return await self.fresh()

    async def fresh(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port)

    def give(self, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        if len(self.idle) < CONNECTIONS:
            self.idle.append(connection)
        else:
            connection[1].close()


async def _exchange(pool: Pool, request: bytes) -> int:
    """Send one request, read its whole response; the status (0: no answer)."""
    for attempt in range(2):  # a kept-alive connection the server closed: once more, fresh
        reader, writer = await (pool.take() if attempt == 0 else pool.fresh())
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            writer.close()
            continue
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(line.split(":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith("content-length:")), 0)
        if length:
            await reader.readexactly(length)
        closing = any(line.lower() == "connection: close" for line in lines[1:])
        if closing:
            writer.close()
        else:
            pool.give((reader, writer))
        return status
    return 0


async def run(schedule: list[dict], host: str, port: int) -> list[dict]:
    """Fire every request at its time; return the results."""
    pool = Pool(host, port)
    results: list[dict] = []
    start = time.perf_counter() + 0.5

    async def one(item: dict, request: bytes) -> None:
        delay = start + item["at"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.perf_counter()
        try:
            status = await _exchange(pool, request)
        except OSError:
            status = 0
        results.append({"id": item["id"], "sent": sent - start, "ms": (time.perf_counter() - sent) * 1000,
                        "status": status})

    await asyncio.gather(*[one(item, item["request"].encode("latin-1")) for item in schedule])
    return results


def main() -> None:
    schedule_path, results_path, host, port = sys.argv[1:5]
    schedule = [json.loads(line) for line in Path(schedule_path).read_text().splitlines() if line]
    results = asyncio.run(run(schedule, host, int(port)))
    Path(results_path).write_text("\n".join(json.dumps(r) for r in results) + "\n")


if __name__ == "__main__":
    main()
