"""Load benchmark: reporters writing multi-turn reports at rising rates, end to end, with the
bare ceiling of the same server stack measured in the same run.

    .venv/bin/python bench/load.py [--rates 50,100,150,200,250] [--seconds 20] [--workers 2]
                                   [--scenario reports|quake] [--repeat 3]

Runs `sigap serve --workers N` against PostgreSQL and Redis on this machine (a schema and a Redis
database of its own, emptied first), with Twilio's API answered by a local stand-in in its own
process. Half the reporters write through signed Twilio SMS webhooks, half through the REST
channel (which answers with the turn's replies). The load generator (bench/loadgen.py) runs in
its own process, open loop. For each offered rate it prints the answered rate, p50/p99 webhook
latency, p50/p99 time from a reporter's first message to the published ticket (relayed to Redis
Streams), how long the backlog took to drain and the messages lost; then the same offer against
bench/bare_app.py (the ceiling). The sustained rate is the highest offer whose webhooks kept
p99 under 100 ms and whose backlog drained within 5 s of the offer's end (with --repeat, in most
of its offers: the same code's p99 at one offer ranges over a factor of three to six on this VM,
so compare changes with --repeat 3 or more). The figures are also
appended to bench/figures/load.jsonl, so the next change can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.stored_app import create_table  # noqa: E402
from bot.settings import PROJECT_DIR  # noqa: E402
from bot.storage.models import DispatchItem, Incident, Message, Ticket, aware  # noqa: E402
from nlu.model import train  # noqa: E402
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, inbound, signature  # noqa: E402
from tests.conftest import free_port  # noqa: E402

PUBLIC_URL = "https://112.example.go.id"
TWILIO_PATH, REST_PATH = "/webhooks/twilio/sms", "/webhooks/rest/webhook"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "sigap_bench"
P99_LIMIT_MS, DRAIN_LIMIT_S = 100.0, 5.0
IDLE_SECONDS = 10.0
# py-spy names the project's files by their path from the project folder.
OWN_CODE = ("bot/", "nlu/", "actions/", "channels/")
FIGURES = ROOT / "bench" / "figures" / "load.jsonl"
# What a profile sample was spent on: the first part whose function is on its stack.
PARTS = [("ingest", "Inbox."), ("outbox", "bot/delivery/outbox"), ("dispatch relay", "bot/dispatch/re"),
         ("deadline clock", "bot/tickets/clock"),
         *[("turn", m) for m in ("bot/conversations.py", "bot/tickets/", "bot/dialogue/", "bot/triage/",
                                 "actions/", "nlu/")],
         ("webhook and middleware", "bot/web/"), ("webhook and middleware", "channels/"),
         ("other Sigap code", "/")]
# A reporter's turns, as people write them, and the gap between their messages.
PLACES = ["desa sumberrejo kendal", "jl soekarno hatta kendal", "pasar weleri", "kaliwungu", "boja",
          "desa cepiring", "jl raya patebon", "brangsong", "pegandon", "sukorejo kendal"]
OPENINGS = ["tolong ada kebakaran rumah di {place}", "kecelakaan motor di {place}, ada yg luka",
            "banjir masuk rumah di {place}", "ada orang pingsan di {place}", "pohon tumbang di {place}",
            "tolong ada maling masuk rumah di {place}"]
FOLLOW_UPS = [["tidak ada yang luka", "sudah di depan rumah", "terima kasih"],
              ["ada 2 orang luka", "cepat ya", "makasih"],
              ["ya", "masih di sini", "terima kasih banyak"]]
# --quake: an earthquake, every reporter writing of one of two collapses (two incidents, each with
# hundreds of reporters adding details: what a notice per update cannot carry).
QUAKE_PLACES = ["pasar weleri", "desa cepiring"]
QUAKE_OPENINGS = ["gempa, rumah roboh di {place}", "tolong gempa gedung runtuh di {place}",
                  "rumah saya roboh kena gempa di {place}"]
QUAKE_FOLLOW_UPS = [["ada 2 orang tertimbun", "masih ada gempa susulan", "terima kasih"],
                    ["tidak ada yang luka", "kami di luar rumah", "makasih"]]
SCENARIOS = {"reports": (OPENINGS, PLACES, FOLLOW_UPS),
             "quake": (QUAKE_OPENINGS, QUAKE_PLACES, QUAKE_FOLLOW_UPS)}
GAP_S = 2.0
# Twilio's API answered in a process of its own (the generator and the server keep their cores).
FAKE_TWILIO = """import sys, time
sys.path.insert(0, %r)
from tests.channels.fake_twilio import FakeTwilio
with FakeTwilio() as fake:
    print(fake.url, flush=True)
    time.sleep(10**6)
"""


@dataclass
class Step:
    """One offered rate against one server."""

    server: str
    offered: float
    sent: int
    answered_per_s: float
    non_200: int
    p50_ms: float
    p99_ms: float
    rest_p99_ms: float
    twilio_p99_ms: float
    drained_s: float | None = None
    lost: int | None = None
    ticket_p50_s: float | None = None
    ticket_p99_s: float | None = None

    def sustained(self) -> bool:
        """Webhooks under the latency limit, and (for Sigap) the backlog drained in time, nothing lost."""
        drained = self.drained_s is None or self.drained_s <= DRAIN_LIMIT_S
        return self.non_200 == 0 and self.p99_ms < P99_LIMIT_MS and drained and not self.lost


def _raw(path: str, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> str:
    headers = {"Host": "127.0.0.1", "Content-Type": content_type, "Content-Length": str(len(body)),
               **(extra or {})}
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head + body.decode("latin-1")


def schedule(rate: float, seconds: float, tag: str, seed: int, scenario: str = "reports") -> list[dict]:
    """Messages at exactly `rate` a second: each goes to a reporter whose previous message is at
    least GAP_S old, or starts a new reporter; each reporter writes an opening and follow-ups."""
    openings, places, follow_ups = SCENARIOS[scenario]
    rng = random.Random(seed)
    reporters: list[dict] = []
    items = []
    for slot in range(int(rate * seconds)):
        at = slot / rate
        ready = next((r for r in reporters if r["next"] <= at and r["turn"] < 4), None)
        if ready is None:
            ready = {"n": len(reporters), "turn": 0, "rest": rng.random() < 0.5,
                     "opening": rng.choice(openings).format(place=rng.choice(places)),
                     "follow": rng.choice(follow_ups), "next": 0.0}
            reporters.append(ready)
        text_ = ready["opening"] if ready["turn"] == 0 else ready["follow"][ready["turn"] - 1]
        message_id = f"{tag}-{ready['n']}-{ready['turn']}"
        if ready["rest"]:
            body = json.dumps({"sender": f"{tag}-rest-{ready['n']}", "message": text_,
                               "metadata": {"message_id": message_id}}).encode()
            request = _raw(REST_PATH, body, "application/json")
        else:
            form = inbound(f"+6281{abs(hash((tag, ready['n']))) % 10**9:09d}", text_, sid=message_id)
            request = _raw(TWILIO_PATH, urlencode(form).encode(), "application/x-www-form-urlencoded",
                           {"X-Twilio-Signature": signature(PUBLIC_URL, TWILIO_PATH, form)})
        items.append({"at": at, "id": message_id, "kind": "rest" if ready["rest"] else "twilio",
                      "request": request})
        ready["turn"] += 1
        ready["next"] = at + GAP_S
    return items


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by the parts on this machine: the server's processes, PostgreSQL,
    Redis, the load generator, everything else. A process that has ended counts in its parent's
    time for reaped children (a PostgreSQL backend in the postmaster's, the generator in this
    script's): without it, a step in which one ended could come out negative."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {"generator": 0.0}
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        postgres = command.startswith("postgres") or command.split(" ", 1)[0].endswith("/postgres")
        part = ("postgres" if postgres else "redis" if "redis-server" in command
                else "generator" if "loadgen.py" in command else
                "server" if "spawn_main" in command or " serve " in command or "_app:app" in command
                else "other")
        own, children = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
        if entry.name == me:  # this script's children: the generator's runs
            used["generator"] += children / tick
            children = 0
        used[part] = used.get(part, 0.0) + (own + children) / tick
    return used


def idle_cpu(seconds: float) -> dict[str, float]:
    """CPU ms a second each part spends with no message arriving (the background jobs' polling)."""
    before = cpu_seconds()
    time.sleep(seconds)
    spent = {part: 1000 * used / seconds for part, used in _spent_since(before).items()}
    print("  idle cpu ms per second (sigap): " + ", ".join(
        f"{part} {ms:.1f}" for part, ms in sorted(spent.items())))
    return spent


def _spent_since(before: dict[str, float]) -> dict[str, float]:
    """CPU seconds each part has used since `before` (a `cpu_seconds` reading)."""
    after = cpu_seconds()
    return {part: after.get(part, 0.0) - before.get(part, 0.0) for part in after}


def _generate(items: list[dict], port: int, tmp: Path) -> list[dict]:
    plan, out = tmp / "schedule.jsonl", tmp / "results.jsonl"
    plan.write_text("\n".join(json.dumps({k: v for k, v in i.items() if k != "kind"}) for i in items))
    subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"), str(plan), str(out), "127.0.0.1",
                    str(port)], check=True, timeout=600)
    return [json.loads(line) for line in out.read_text().splitlines() if line]


def run_step(server: str, rate: float, seconds: float, port: int, tmp: Path,
             tag: str, scenario: str = "reports") -> tuple[Step, list[dict]]:
    """Offer `rate` for `seconds`; the webhook side of the figures."""
    items = schedule(rate, seconds, tag, seed=int(rate), scenario=scenario)
    kinds = {i["id"]: i["kind"] for i in items}
    before = cpu_seconds()
    results = _generate(items, port, tmp)
    spent = _spent_since(before)
    print(f"  cpu ms per message at {rate:.0f}/s ({server}): " + ", ".join(
        f"{part} {1000 * seconds / max(len(items), 1):.1f}" for part, seconds in sorted(spent.items())))
    span = max((r["sent"] + r["ms"] / 1000 for r in results), default=seconds)
    latencies = [r["ms"] for r in results]
    answered = [r for r in results if r["status"] == 200]
    refused: dict[int, int] = {}
    for r in results:
        if r["status"] != 200:
            refused[r["status"]] = refused.get(r["status"], 0) + 1
    # Which of a reporter's turns the slowest answers were (the opening opens the ticket).
    by_turn = {(kind, turn): [r["ms"] for r in results
                              if kinds[r["id"]] == kind and r["id"].endswith(f"-{turn}")]
               for kind in ("rest", "twilio") for turn in range(4)}
    print(f"  p50/p99 ms by turn at {rate:.0f}/s ({server}): " + ", ".join(
        f"{kind} {turn} {_percentile(ms, 0.5):.0f}/{_percentile(ms, 0.99):.0f}"
        for (kind, turn), ms in by_turn.items() if ms))
    if refused:
        print(f"  not answered 200 at {rate:.0f}/s ({server}): " + ", ".join(
            f"{status}: {count}" for status, count in sorted(refused.items())))
    step = Step(server, rate, len(items), len(answered) / max(span, 1e-9), len(results) - len(answered),
                _percentile(latencies, 0.5), _percentile(latencies, 0.99),
                _percentile([r["ms"] for r in results if kinds[r["id"]] == "rest"], 0.99),
                _percentile([r["ms"] for r in results if kinds[r["id"]] == "twilio"], 0.99))
    return step, answered


def end_to_end(step: Step, answered: list[dict], database: str, tag: str, step_end: float) -> None:
    """Wait for the backlog to drain; the messages lost and the time to each published ticket."""
    engine = create_engine(database)
    ids = {r["id"] for r in answered}
    deadline = time.monotonic() + 120
    with Session(engine) as session:
        while True:
            waiting = session.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "in", Message.processed_at.is_(None))) or 0
            unrelayed = session.scalar(select(func.count()).select_from(DispatchItem)
                                       .where(DispatchItem.relayed_at.is_(None))) or 0
            owed = session.scalar(select(func.count()).select_from(Incident)
                                  .where(Incident.publish_owed.is_not(None))) or 0
            if not waiting and not unrelayed and not owed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
            session.expire_all()
        step.drained_s = max(0.0, time.perf_counter() - step_end)
        stored = set(session.scalars(select(Message.provider_message_id).where(
            Message.direction == "in", Message.provider_message_id.like(f"{tag}-%"))))
        step.lost = len(ids - stored)
        firsts = dict(session.execute(
            select(Message.conversation_id, func.min(Message.created_at))
            .where(Message.direction == "in", Message.provider_message_id.like(f"{tag}-%"))
            .group_by(Message.conversation_id)).all())
        # A reporter's ticket is published with the first relayed notice that lists it (an opener's
        # incident, or the incident a later reporter joined), read from the notices' ticket lists.
        reporters = dict(session.execute(select(Ticket.id, Ticket.conversation_id)
                                         .where(Ticket.conversation_id.in_(list(firsts)))).all())
        seen: dict[int, datetime] = {}
        notices = session.execute(
            select(DispatchItem.relayed_at, DispatchItem.payload["tickets"])
            .where(DispatchItem.relayed_at.is_not(None))
            .where(DispatchItem.created_at >= min(firsts.values(), default=datetime.now(UTC))))
        for at, numbers in notices:
            for number in numbers or []:
                ident = int(str(number).removeprefix("112-"))
                if ident in reporters and (ident not in seen or aware(at) < seen[ident]):
                    seen[ident] = aware(at)
        delays = [(at - aware(firsts[reporters[ident]])).total_seconds() for ident, at in seen.items()]
    engine.dispose()
    step.ticket_p50_s, step.ticket_p99_s = _percentile(delays, 0.5), _percentile(delays, 0.99)


def _serve(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("w")
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                time.sleep(3.0)  # every worker process up, not only the first
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"{command[0]} exited: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    raise SystemExit("the server did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def fresh_schema(schema: str) -> str:
    """The URL of an empty PostgreSQL schema of this name (a benchmark's own), made afresh."""
    engine = create_engine(POSTGRES)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{POSTGRES}?options=-csearch_path%3D{schema}"


def _fresh_stores(redis_url: str) -> str:
    Redis.from_url(redis_url).flushdb()
    return fresh_schema(SCHEMA)


def profile(pid: int, rate: float, seconds: float, port: int, tmp: Path) -> None:
    """py-spy over every thread of every server process during one offer (samples holding the GIL:
    where the CPU goes, not where threads wait): the functions that
    hold the CPU themselves, and Sigap's own functions with what they call."""
    raw = tmp / "profile.txt"
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid),
                            "--subprocesses", "--gil", "--format", "raw", "--output", str(raw), "--duration",
                            str(int(seconds)), "--rate", "200", "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_step("sigap", rate, seconds, port, tmp, f"p{int(rate)}")
    spy.wait(timeout=120)
    own: dict[str, int] = {}
    leaf: dict[str, int] = {}
    entry: dict[str, int] = {}
    outside: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        samples = int(count)
        frames = [f for f in stack.split(";") if f]
        total += samples
        if frames:
            leaf[frames[-1]] = leaf.get(frames[-1], 0) + samples
        # Inclusive by function (a frame names its line: one function would be split by line).
        ours = [f.rsplit(":", 1)[0] + ")" for f in frames if f.split("(")[-1].startswith(OWN_CODE)]
        for frame in set(ours):
            own[frame] = own.get(frame, 0) + samples
        part = next((name for name, marker in PARTS if any(marker in f for f in ours)), "other")
        entry[part] = entry.get(part, 0) + samples
        if part == "other" and frames:
            outside[frames[-1]] = outside.get(frames[-1], 0) + samples
    print(f"profile at {rate:.0f}/s: {total} samples")
    for title, table in (("self", leaf), ("Sigap's own, inclusive", own), ("part", entry),
                         ("self outside Sigap's code", outside)):
        print(f"  top {title}:")
        for frame, samples in sorted(table.items(), key=lambda t: -t[1])[:25]:
            print(f"    {100 * samples / max(total, 1):5.1f}%  {frame[:130]}")


def _print(steps: list[Step]) -> None:
    print(f"{'server':6} {'offer/s':>7} {'sent':>6} {'answered/s':>10} {'non-200':>7} {'p50 ms':>7} "
          f"{'p99 ms':>7} {'rest p99':>8} {'sms p99':>8} {'drain s':>7} {'lost':>4} {'ticket p50/p99 s':>16}")
    for s in steps:
        ticket = f"{s.ticket_p50_s:.2f}/{s.ticket_p99_s:.2f}" if s.ticket_p50_s is not None else "-"
        drained = f"{s.drained_s:.1f}" if s.drained_s is not None else "-"
        print(f"{s.server:6} {s.offered:7.0f} {s.sent:6d} {s.answered_per_s:10.1f} {s.non_200:7d} "
              f"{s.p50_ms:7.1f} {s.p99_ms:7.1f} {s.rest_p99_ms:8.1f} {s.twilio_p99_ms:8.1f} {drained:>7} "
              f"{'-' if s.lost is None else s.lost:>4} {ticket:>16}")


def _mostly_sustained(steps: list[Step], rate: float) -> bool:
    """Most of Sigap's offers at `rate` were sustained."""
    offers = [s.sustained() for s in steps if s.server == "sigap" and s.offered == rate]
    return sum(offers) * 2 > len(offers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", default="50,100,150,200,250,300")
    parser.add_argument("--bare-rates", default=None, help="default: the same and higher")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--profile", type=float, default=None, metavar="RATE",
                        help="record the server with py-spy (all threads, every process) at this offer")
    parser.add_argument("--sigap-only", action="store_true", help="skip the bare ceiling")
    parser.add_argument("--stored-floor", action="store_true",
                        help="also the bare routes storing each message in PostgreSQL (bench/stored_app.py)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="reports",
                        help="quake: every reporter writes of one of two collapses (incidents of hundreds)")
    parser.add_argument("--server-log", type=Path, default=None, help="keep Sigap's log in this file")
    parser.add_argument("--repeat", type=int, default=1,
                        help="offer each of Sigap's rates this many times; a rate is sustained when most "
                             "of its offers are (one offer's p99 varies by a factor of several on this VM)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    offers = args.bare_rates.split(",") if args.bare_rates else [*map(str, rates), "400", "600", "800"]
    bare_rates = [float(r) for r in offers]
    steps: list[Step] = []
    idle: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        models = tmp / "models"
        train(PROJECT_DIR, models)
        twilio = subprocess.Popen([sys.executable, "-c", FAKE_TWILIO % str(ROOT)], stdout=subprocess.PIPE,
                                  text=True)
        twilio_url = (twilio.stdout.readline() if twilio.stdout else "").strip()
        try:
            database = _fresh_stores(args.redis_url)
            port = free_port()
            env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": args.redis_url,
                   "MODELS_DIR": str(models), "PUBLIC_URL": PUBLIC_URL, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                   "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_API_URL": twilio_url,
                   "SIGAP_API_TOKENS": "", "SENDER_MESSAGES_PER_MINUTE": "1000"}
            command = [sys.executable, "-m", "bot", "serve", "--port", str(port),
                       "--workers", str(args.workers)]
            sigap = _serve(command, env, port, tmp / "sigap.log")
            try:
                idle = idle_cpu(IDLE_SECONDS)
                if args.profile:
                    profile(sigap.pid, args.profile, args.seconds, port, tmp)
                for rate in rates:
                    for attempt in range(args.repeat):
                        tag = f"r{int(rate)}-{attempt}"
                        step, answered = run_step("sigap", rate, args.seconds, port, tmp, tag, args.scenario)
                        end_to_end(step, answered, database, tag, time.perf_counter())
                        steps.append(step)
                        _print([step])
            finally:
                _stop(sigap)
                if args.server_log:
                    shutil.copy(tmp / "sigap.log", args.server_log)
            if args.sigap_only:
                bare_rates = []
            floors = [("bare", "bench.bare_app:app", bare_rates, os.environ.copy())]
            if args.stored_floor:
                create_table(database)
                floors.append(("stored", "bench.stored_app:app", bare_rates,
                               {**os.environ, "DATABASE_URL": database}))
            for name, module, offers_of, env_of in floors:
                floor_port = free_port()
                floor = _serve([sys.executable, "-m", "uvicorn", module, "--port", str(floor_port),
                                "--workers", str(args.workers), "--no-access-log", "--log-level", "warning"],
                               env_of, floor_port, tmp / f"{name}.log")
                try:
                    for rate in offers_of:
                        step, _answered = run_step(name, rate, args.seconds, floor_port, tmp,
                                                   f"{name[0]}{int(rate)}")
                        steps.append(step)
                        _print([step])
                finally:
                    _stop(floor)
        finally:
            twilio.terminate()
    print()
    _print(steps)
    best = max((rate for rate in rates if _mostly_sustained(steps, rate)), default=0.0)
    ceiling = max((s.offered for s in steps if s.server == "bare" and s.sustained()), default=0.0)
    floor = max((s.offered for s in steps if s.server == "stored" and s.sustained()), default=0.0)
    ratio = best / ceiling if ceiling else 0.0
    print(f"\nsustained: Sigap {best:.0f} messages/s, bare ceiling {ceiling:.0f} requests/s, "
          f"ratio {ratio:.2f} "
          f"(p99 < {P99_LIMIT_MS:.0f} ms, backlog drained within {DRAIN_LIMIT_S:.0f} s, nothing lost; "
          f"{args.workers} workers, PostgreSQL and Redis, {os.cpu_count()} cores)")
    if args.stored_floor:
        print(f"storing each message and nothing more (bench/stored_app.py): {floor:.0f} requests/s")
    FIGURES.parent.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT, check=False).stdout.strip()
    with FIGURES.open("a") as out:
        out.write(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
                              "workers": args.workers, "seconds": args.seconds, "repeat": args.repeat,
                              "sustained": best,
                              **({"scenario": args.scenario} if args.scenario != "reports" else {}),
                              "ceiling": ceiling, "ratio": round(ratio, 3),
                              **({"stored_floor": floor} if args.stored_floor else {}),
                              "idle_cpu_ms_per_s": {k: round(v, 1) for k, v in idle.items()},
                              "steps": [asdict(s) for s in steps]}) + "\n")


if __name__ == "__main__":
    main()
