"""One running core: services, NLU, conversations and the outbox, started and stopped in order.

`sigap serve` (bot/app.py) and `sigap telegram poll` both run exactly this; a channel brings
only its senders and background tasks.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.conversations import Conversations
from bot.coordination.jobs import every
from bot.delivery.outbox import ChannelSender, Outbox
from bot.dialogue import guidance
from bot.services import Services, build_engine, build_locks, build_services, set_current
from bot.settings import Settings
from bot.storage import retention
from bot.tickets import clock
from nlu.model import NLU

log = logging.getLogger(__name__)

# How long shutdown waits for the outbox to finish the sends under way.
SHUTDOWN_SECONDS = 10.0
# Threads for the database work done outside turns (asyncio's default executor: the console, the
# outbox, the jobs); a turn runs whole in a turn thread (bot/coordination/threads.py).
THREADS = 16
# How often the notices busy incidents owe are looked for (each waits at most this past its gap).
OWED_SECONDS = 0.25
# Parsed once at start-up: every table the NLU reads lazily is loaded before the first reporter.
WARM_UP = "kebakaran rumah di desa sumberrejo kendal"

Background = Callable[[Conversations, Outbox], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Core:
    """What the channels talk to."""

    services: Services
    conversations: Conversations
    outbox: Outbox


def worker_jobs(services: Services) -> list[Coroutine[Any, Any, None]]:
    """What `sigap worker` runs (and `sigap serve` too, unless RUN_WORKERS_IN_SERVE is off): the
    deadline clock, the notices busy incidents owe (bot/tickets/desk.py), the relay to Redis
    Streams when REDIS_URL is set, and the retention job when RETENTION_DAYS is set."""
    jobs: list[Coroutine[Any, Any, None]] = [
        clock.run(services.db, services.desk.rules),
        every(OWED_SECONDS, "owed notices", services.desk.publish_owed),
    ]
    if services.settings.retention_days:
        jobs.append(retention.run(services.db, services.settings.retention_days))
    if services.settings.redis_url:
        from bot.dispatch import relay
        from bot.dispatch.redis_streams import RedisDispatchQueue

        jobs.append(relay.run(RedisDispatchQueue(services.db, services.settings.redis_url, "relay")))
    return jobs


@asynccontextmanager
async def running_core(
    settings: Settings, senders: Sequence[ChannelSender], background: Sequence[Background] = (),
) -> AsyncIterator[Core]:
    """Build the core, finish messages left over from a previous run, run the outbox and the
    channels' background tasks; on exit finish the turns under way, then the sends, then close."""
    services = build_services(settings)
    nlu = NLU.load(settings.project_dir, settings.models_dir, services.resolve_location)
    guidance.load_protocols()  # read and checked now, not in the middle of someone's turn
    nlu.parse(WARM_UP)  # the gazetteer and lexicons read now, not during the first report
    # The model, gazetteer and lexicons live as long as the process: the collector stops
    # walking their few hundred thousand objects every full collection.
    gc.collect()
    gc.freeze()
    set_current(services)
    # Each turn runs in a turn thread of its own (bot/conversations.py), so a turn waiting on a row
    # lock never starves the turn that holds it; the rest hands its database work to these.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(THREADS, thread_name_prefix="work"))
    outbox = Outbox(services.db, {s.channel: s for s in senders}, settings.outbox_first_retry_seconds)
    locks = build_locks(settings)
    conversations = Conversations(services, nlu, build_engine(services), outbox.push_channels, locks)
    conversations.on_replies.append(outbox.kick)
    tasks: list[asyncio.Task[None]] = []
    try:
        recovered = await conversations.process_backlog()
        if recovered:
            log.warning("processed %d messages left over from a previous run", recovered)
        tasks = [asyncio.create_task(outbox.run()), asyncio.create_task(conversations.sweep())]
        tasks += [asyncio.create_task(task(conversations, outbox)) for task in background]
        if settings.run_workers_in_serve:
            tasks += [asyncio.create_task(job) for job in worker_jobs(services)]
        yield Core(services, conversations, outbox)
    finally:
        await conversations.drain()
        outbox.stop()
        if tasks:
            await asyncio.wait(tasks[:1], timeout=SHUTDOWN_SECONDS)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await locks.close()
        await conversations.close()
        set_current(None)
        services.db.dispose()
