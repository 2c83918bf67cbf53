"""Turn benchmark: the CPU one message costs inside one process, and what it spends it on.

    .venv/bin/python bench/turn.py [--reporters 100] [--profile] [--sqlite] [--history 100000]

Runs the same core `sigap serve` runs (bot/runtime.py) against PostgreSQL and Redis on this
machine (a schema and a Redis database of its own, emptied first), with no HTTP in front: each
reporter writes the four turns of bench/load.py, one message after the other, half through the
REST path (the turn inside the call) and half through SMS (stored, then processed in the
background, the replies sent from the outbox by Twilio's client to a stand-in in its own
process). Prints the process CPU per message, the wall time, the SQL statements and Redis
commands per message, the statements that took the most wall time, and with --profile
cProfile's top entries. With --history N the schema first holds N past reporters' rows
(bench/history.py): a statement that slows as a year's rows pile up shows there.
The load benchmark (bench/load.py) measures the same code with HTTP, several processes and
queueing; this one shows what a change to the turn itself is worth, in seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from redis.connection import Connection  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from bench.history import fill  # noqa: E402
from bench.load import FAKE_TWILIO, FOLLOW_UPS, OPENINGS, PLACES, fresh_schema  # noqa: E402
from bot.messages import InboundMessage  # noqa: E402
from bot.runtime import running_core  # noqa: E402
from bot.settings import PROJECT_DIR, Settings  # noqa: E402
from bot.storage.models import OutboxMessage, utcnow  # noqa: E402
from channels.twilio_common import TwilioAccount  # noqa: E402
from channels.twilio_sms import SmsSender  # noqa: E402
from nlu.model import train  # noqa: E402
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM  # noqa: E402

SCHEMA = "sigap_bench_turn"
REDIS = "redis://127.0.0.1:6379/13"


class Counts:
    """SQL statements and Redis commands sent by this process (and, with the hand-overs inline,
    the work handed to threads, by function)."""

    def __init__(self) -> None:
        self.sql = 0
        self.commits = 0
        # Round trips to the database: each statement, and the BEGIN and COMMIT (or ROLLBACK)
        # psycopg sends around a transaction that ran one.
        self.round_trips = 0
        self.redis = 0
        self.hand_overs: dict[str, int] = {}
        self.echo: list[str] | None = None
        # Wall time of each statement, by its text.
        self.statement_seconds: dict[str, float] = {}
        self.statement_counts: dict[str, int] = {}
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "after_cursor_execute", self._statement_done)
        event.listen(Engine, "commit", self._commit)
        event.listen(Engine, "begin", self._begin)
        event.listen(Engine, "rollback", self._end)
        send = Connection.send_packed_command

        def counted(connection: Connection, command: object, check_health: bool = True) -> None:
            self.redis += 1
            send(connection, command, check_health)

        Connection.send_packed_command = counted  # type: ignore[method-assign]
        from redis.asyncio.connection import AbstractConnection

        send_async = AbstractConnection.send_packed_command

        async def counted_async(connection: AbstractConnection, command: object,
                                check_health: bool = True) -> None:
            self.redis += 1
            await send_async(connection, command, check_health)

        AbstractConnection.send_packed_command = counted_async  # type: ignore[method-assign]

    def _begin(self, connection: Any) -> None:
        # In autocommit (Database.autocommit) psycopg sends no BEGIN, nor a COMMIT after.
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.info["sigap_bench_began"] = True

    def _end(self, connection: Any) -> None:
        if connection.info.pop("sigap_bench_ran", False):
            self.round_trips += 1
        connection.info.pop("sigap_bench_began", None)

    def _commit(self, connection: Any) -> None:
        self.commits += 1
        self._end(connection)
        if self.echo is not None:
            self.echo.append("COMMIT")

    def _statement_done(self, connection: Any, _cursor: object, statement: str, *args: object) -> None:
        # By the statement's text as sent (SQLAlchemy caches it: its hash is too); shortened only
        # when printed, so the measured CPU holds no work of the benchmark's.
        began = connection.info.pop("sigap_bench_at", None)
        if began is not None:
            self.statement_seconds[statement] = (self.statement_seconds.get(statement, 0.0)
                                                 + time.perf_counter() - began)
            self.statement_counts[statement] = self.statement_counts.get(statement, 0) + 1

    def slowest(self, n: int = 8) -> str:
        """The statements that took the most wall time in all, with their mean."""
        ranked = sorted(self.statement_seconds.items(), key=lambda kv: -kv[1])[:n]
        return "\n".join(f"  {1000 * spent:8.1f} ms in all, {1000 * spent / self.statement_counts[sql]:6.2f} "
                         f"ms each x{self.statement_counts[sql]}: {' '.join(sql.split())[:70]}"
                         for sql, spent in ranked)

    def _statement(self, connection: Any, _cursor: object, statement: str, *args: object) -> None:
        connection.info["sigap_bench_at"] = time.perf_counter()
        self.sql += 1
        self.round_trips += 1
        if connection.info.pop("sigap_bench_began", False):
            self.round_trips += 1
            connection.info["sigap_bench_ran"] = True
        if self.echo is not None:
            self.echo.append(" ".join(statement.split())[:150])


def _fresh(sqlite: Path | None) -> str:
    Redis.from_url(REDIS).flushdb()
    if sqlite is not None:
        return f"sqlite:///{sqlite}"
    return fresh_schema(SCHEMA)


def messages(reporters: int, seed: int = 7) -> list[InboundMessage]:
    """Every reporter's four turns, reporters interleaved as they would be at the centre."""
    rng = random.Random(seed)
    scripts = []
    for n in range(reporters):
        channel = "rest" if n % 2 == 0 else "sms"
        opening = rng.choice(OPENINGS).format(place=rng.choice(PLACES))
        turns = [opening, *rng.choice(FOLLOW_UPS)]
        scripts.append([InboundMessage(channel=channel, sender_id=f"+62812{n:07d}", text=t,
                                       provider_message_id=f"{channel}-{n}-{i}")
                        for i, t in enumerate(turns)])
    interleaved = []
    for turn in range(4):
        interleaved += [script[turn] for script in scripts]
    return interleaved


async def _echo(conversations: Any, counts: Counts) -> None:
    """Every SQL statement of one more reporter's four REST turns."""
    for message in messages(1, seed=3):
        counts.echo = []
        await conversations.handle(InboundMessage("rest", "echo" + message.sender_id, message.text,
                                                  provider_message_id="echo" + message.provider_message_id))
        print(f"-- {message.text!r}: {len(counts.echo)} statements")
        for statement in counts.echo:
            print("   " + statement)
    counts.echo = None


async def _send(conversations: Any, message: InboundMessage) -> None:
    """One message, awaited to its end: a REST call; or an SMS stored, then its turn in a turn slot
    (what `accept` starts in the background)."""
    if message.channel == "rest":
        await conversations.handle(message)
    else:
        await conversations._process_quietly(await conversations.receive(message))


async def _at_once(conversations: Any, outbox: Any, batch: list[InboundMessage], reporters: int) -> None:
    """`reporters` reporters writing at once, each its four turns one after the other: the CPU
    a message costs, and how long each waits for its answer (the threads share one interpreter)."""
    scripts: dict[str, list[InboundMessage]] = {}
    for message in batch:
        scripts.setdefault(message.sender_id, []).append(message)
    waiting = list(scripts.values())
    walls: list[float] = []

    async def reporter() -> None:
        while waiting:
            for message in waiting.pop():
                began = time.perf_counter()
                await _send(conversations, message)
                walls.append(time.perf_counter() - began)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[reporter() for _ in range(reporters)])
    await _sent(outbox)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    walls.sort()
    n = len(batch)
    print(f"{n} messages, {reporters} reporters at once: CPU {1000 * cpu / n:.2f} ms/message, "
          f"{n / wall:.0f} messages/s, answer p50 {1000 * walls[n // 2]:.1f} ms, "
          f"p99 {1000 * walls[int(n * 0.99)]:.1f} ms, max {1000 * walls[-1]:.1f} ms "
          f"(switch interval {1000 * sys.getswitchinterval():.1f} ms)")


async def _sent(outbox: Any) -> None:
    """Until the outbox has sent everything written to it."""
    while True:
        await outbox.deliver_due()
        if not await asyncio.to_thread(_pending, outbox.db):
            return
        await asyncio.sleep(0.005)


def _pending(db: Any) -> int:
    """Messages the outbox owes now."""
    with db.session() as session:  # reminders scheduled for minutes on are not due
        return int(session.scalar(select(func.count()).where(
            OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= utcnow())) or 0)


async def run(settings: Settings, batch: list[InboundMessage], profiler: cProfile.Profile | None,
              counts: Counts, echo: bool = False, only: int | None = None, inline: bool = False,
              at_once: int = 1, history: int = 0) -> None:
    account = TwilioAccount.of(settings)
    assert account is not None
    async with running_core(settings, [SmsSender(account, settings.twilio_sms_from)]) as core:
        conversations = core.conversations
        if history:
            seconds = fill(settings.database_url, history)
            print(f"history: {history} past reporters stored in {seconds:.0f} s (bench/history.py)")
        if profiler or inline:
            _inline_threads(conversations, counts)
        warm = messages(4, seed=1)
        for message in warm:
            await conversations.handle(InboundMessage(message.channel, "warm" + message.sender_id,
                                                      message.text))
        gc_time = _gc_clock()
        idle = time.process_time()
        await asyncio.sleep(2)
        idle = (time.process_time() - idle) / 2
        await _sent(core.outbox)
        if at_once > 1:
            await _at_once(conversations, core.outbox, batch, at_once)
            return
        sql, commits, commands, trips = counts.sql, counts.commits, counts.redis, counts.round_trips
        counts.hand_overs.clear()
        counts.statement_seconds.clear()
        counts.statement_counts.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler and only is None:
            profiler.enable()
        by_turn: dict[str, list[float]] = {}
        sql_by_turn: dict[str, list[int]] = {}
        trips_by_turn: dict[str, list[int]] = {}
        for message in batch:
            turn = f"turn {message.provider_message_id.rsplit('-', 1)[-1]}"
            if profiler and only is not None and turn == f"turn {only}":
                profiler.enable()
            began, statements, trips_before = time.process_time(), counts.sql, counts.round_trips
            await _send(conversations, message)
            if profiler and only is not None:
                profiler.disable()
            by_turn.setdefault(turn, []).append(time.process_time() - began)
            sql_by_turn.setdefault(turn, []).append(counts.sql - statements)
            trips_by_turn.setdefault(turn, []).append(counts.round_trips - trips_before)
        await _sent(core.outbox)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        n = len(batch)
        print(f"{n} messages: CPU {1000 * cpu / n:.2f} ms/message, wall {1000 * wall / n:.2f} ms/message, "
              f"SQL {(counts.sql - sql) / n:.1f}/message, commits {(counts.commits - commits) / n:.1f}, "
              f"database round trips {(counts.round_trips - trips) / n:.1f}/message, "
              f"Redis {(counts.redis - commands) / n:.1f}/message; "
              f"idle CPU {1000 * idle:.1f} ms/s; garbage collector {1000 * gc_time[0] / n:.2f} ms/message "
              f"({gc_time[1]} full collections), objects tracked {len(gc.get_objects())}")
        print("CPU by turn of a reporter (ms, mean/max): " + ", ".join(
            f"{turn} {1000 * sum(spent) / len(spent):.1f}/{1000 * max(spent):.1f}"
            for turn, spent in sorted(by_turn.items())))
        # The median turn is what a change is worth: this VM's neighbours make the means of two
        # runs of the same code differ by a third, its medians far less.
        medians = {turn: statistics.median(spent) for turn, spent in by_turn.items()}
        print(f"CPU by turn, median (ms): {1000 * sum(medians.values()) / len(medians):.2f}/message ("
              + ", ".join(f"{turn} {1000 * m:.2f}" for turn, m in sorted(medians.items())) + ")")
        print("SQL statements by turn (mean): " + ", ".join(
            f"{turn} {sum(n) / len(n):.1f}" for turn, n in sorted(sql_by_turn.items())))
        # In a busy process a thread back from the database waits for the GIL (up to the 5 ms
        # switch interval): a turn's latency under load grows with these, not with its CPU alone.
        print("database round trips by turn (mean; the background work of the turns of an SMS "
              "counted where it ran): " + ", ".join(
                  f"{turn} {sum(n) / len(n):.1f}" for turn, n in sorted(trips_by_turn.items())))
        print("statements by wall time (the database's answer and the wait for the GIL after it):\n"
              + counts.slowest())
        if counts.hand_overs:  # the ingest's own thread pool is not counted
            ranked = sorted(counts.hand_overs.items(), key=lambda kv: -kv[1])
            print(f"hand-overs to threads per message: {sum(counts.hand_overs.values()) / n:.2f} ("
                  + ", ".join(f"{name} {count / n:.2f}" for name, count in ranked) + ")")
        if echo:
            await _echo(conversations, counts)


def _gc_clock() -> list[Any]:
    """[seconds spent in the garbage collector, full collections] from now on."""
    spent: list[Any] = [0.0, 0]
    started = [0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started[0]
            spent[1] += info["generation"] == 2

    gc.callbacks.append(callback)
    return spent


class _Inline(Executor):
    """Runs what is submitted at once, in the caller's thread (so cProfile sees it)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed back to the awaiting coroutine
            future.set_exception(error)
        return future


def _inline_threads(conversations: Any, counts: Counts) -> None:
    """cProfile sees one thread: with --profile, the work handed to threads runs in the loop's."""
    async def inline(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        name = getattr(fn, "__qualname__", type(fn).__name__)
        counts.hand_overs[name] = counts.hand_overs.get(name, 0) + 1
        return fn(*args, **kwargs)

    asyncio.to_thread = inline  # type: ignore[assignment]
    conversations._ingest = _Inline()
    conversations.turn_threads = _OnTheLoop()


class _OnTheLoop:
    """In place of the turn threads (bot/coordination/threads.py): each turn on the loop itself."""

    async def run(self, work: Any) -> Any:
        return await work()

    async def on_loop(self, work: Any) -> Any:
        return await work

    async def result_of(self, future: Any) -> Any:
        return await future

    def close(self) -> None:
        pass


def _by_package(profiler: cProfile.Profile) -> str:
    """Each function's own time summed by the package its file is in (the flat profile's shape)."""
    spent: dict[str, float] = {}
    for (path, _line, _name), row in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in path:
            package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        elif path.startswith(str(ROOT)):
            package = "sigap:" + Path(path).relative_to(ROOT).parts[0]
        elif path.startswith("<"):
            package = "builtins"
        else:
            package = "stdlib:" + Path(path).stem
        spent[package] = spent.get(package, 0.0) + row[2]
    total = sum(spent.values())
    ranked = sorted(spent.items(), key=lambda kv: -kv[1])
    return "own time by package: " + ", ".join(
        f"{name} {100 * seconds / total:.1f}%" for name, seconds in ranked if seconds / total >= 0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reporters", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--turn", type=int, default=None,
                        help="with --profile: only this turn of each reporter (0: the opening)")
    parser.add_argument("--echo", action="store_true", help="print the SQL of one more reporter's turns")
    parser.add_argument("--callees", default=None, help="with --profile: what these functions call (a regex)")
    parser.add_argument("--packages", action="store_true", help="with --profile: own CPU time by package")
    parser.add_argument("--save", type=Path, default=None, help="with --profile: the stats, for pstats")
    parser.add_argument("--inline", action="store_true",
                        help="what the core hands to threads run in the loop's thread (the hand-overs' cost)")
    parser.add_argument("--at-once", type=int, default=1,
                        help="reporters writing at once (each message's wait for its answer)")
    parser.add_argument("--history", type=int, default=0,
                        help="past reporters stored first (a year of a centre's rows; PostgreSQL)")
    parser.add_argument("--switch-interval", type=float, default=None, help="sys.setswitchinterval, ms")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval / 1000)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        train(PROJECT_DIR, tmp / "models")
        database = _fresh(tmp / "turn.db" if args.sqlite else None)
        os.environ.pop("SIGAP_API_TOKENS", None)
        twilio = subprocess.Popen([sys.executable, "-c", FAKE_TWILIO % str(ROOT)], stdout=subprocess.PIPE,
                                  text=True)
        settings = Settings(database_url=database, redis_url=REDIS, models_dir=tmp / "models",
                            sender_messages_per_minute=1000, run_workers_in_serve=False,
                            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                            twilio_sms_from=SMS_FROM, public_url="https://sigap.example",
                            twilio_api_url=(twilio.stdout.readline() if twilio.stdout else "").strip())
        import logging

        logging.basicConfig(level=logging.WARNING)
        counts = Counts()
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        try:
            asyncio.run(run(settings, messages(args.reporters), profiler, counts, args.echo, args.turn,
                            args.inline, args.at_once, args.history))
        finally:
            twilio.terminate()
        if profiler:
            calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
            print(f"Python calls per message: {calls / (4 * args.reporters):.0f} (steadier than CPU time)")
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:12000])
            if args.packages:
                print(_by_package(profiler))
            if args.save:
                profiler.dump_stats(args.save)
            if args.callees:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_callees(args.callees)
                print(out.getvalue()[:20000])


if __name__ == "__main__":
    main()
