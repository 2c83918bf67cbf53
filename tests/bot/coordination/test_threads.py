"""Turn threads: a turn runs whole in one thread, its hand-overs in place; what is bound to the
process's loop is reached from it; turns run side by side."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from sqlalchemy import event, select

from bot.coordination.threads import TurnThreads
from bot.storage.models import Ticket
from tests.conftest import RunningApp, rest_texts

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_a_turn_and_what_it_hands_to_threads_run_in_one_turn_thread() -> None:
    threads = TurnThreads(2)

    async def turn() -> tuple[int, int, int, str]:
        here = threading.get_ident()
        handed = await asyncio.to_thread(threading.get_ident)
        also = await asyncio.get_running_loop().run_in_executor(None, threading.get_ident)
        return here, handed, also, threading.current_thread().name

    async def main() -> tuple[int, tuple[int, int, int, str]]:
        return threading.get_ident(), await threads.run(turn)

    loop_thread, (here, handed, also, name) = asyncio.run(main())
    threads.close()
    assert here != loop_thread
    assert handed == here and also == here
    assert name.startswith("turn")


def test_a_turn_sees_its_callers_context_and_keeps_its_own_changes_to_itself() -> None:
    threads = TurnThreads(1)

    async def turn() -> str:
        seen = WHO.get()
        WHO.set("the turn")
        return seen

    async def main() -> tuple[str, str]:
        WHO.set("the webhook")
        seen = await threads.run(turn)
        return seen, WHO.get()

    assert asyncio.run(main()) == ("the webhook", "the webhook")
    threads.close()


def test_what_is_bound_to_the_process_loop_is_reached_from_a_turn() -> None:
    # The turn's own loop is not the process's (whose Redis clients a turn cannot use there);
    # `on_loop` runs such work on the process's loop and hands its answer back.
    threads = TurnThreads(1)

    async def main() -> tuple[bool, bool, str]:
        home = asyncio.get_running_loop()

        async def on_home() -> bool:
            return asyncio.get_running_loop() is home

        async def turn() -> tuple[bool, bool, str]:
            elsewhere = asyncio.get_running_loop() is not home
            reached = await threads.on_loop(on_home())
            return elsewhere, reached, await threads.on_loop(asyncio.sleep(0, "slept"))

        return await threads.run(turn)

    assert asyncio.run(main()) == (True, True, "slept")
    threads.close()


def test_an_error_in_a_turn_reaches_its_caller() -> None:
    threads = TurnThreads(1)

    async def turn() -> None:
        await asyncio.to_thread(_refuse)

    async def main() -> None:
        with pytest.raises(ValueError, match="refused"):
            await threads.run(turn)
        assert await threads.run(_fine) == "fine"  # the thread goes on serving turns

    asyncio.run(main())
    threads.close()


def _refuse() -> None:
    raise ValueError("refused")


async def _fine() -> str:
    return "fine"


def test_a_turn_waiting_in_a_blocking_step_does_not_hold_back_another() -> None:
    # One turn blocks (a row lock) until a second turn releases it: the second runs meanwhile.
    threads = TurnThreads(2)
    released = threading.Event()

    async def waiting() -> bool:
        return await asyncio.to_thread(released.wait, 10)

    async def releasing() -> None:
        await asyncio.to_thread(released.set)

    async def main() -> bool:
        first = asyncio.ensure_future(threads.run(waiting))
        await asyncio.sleep(0.05)
        await threads.run(releasing)
        return await first

    assert asyncio.run(main()) is True
    threads.close()


def test_a_reporters_turn_runs_its_sql_in_one_thread_off_the_loop(running_app: RunningApp) -> None:
    # The load, the desk's ticket (its own transactions), the save: every statement of the turn
    # in the one turn thread, none on the thread that answers the webhooks.
    db = running_app.services.db
    threads: list[str] = []

    def seen(*_args: object) -> None:
        threads.append(threading.current_thread().name)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        texts = rest_texts(running_app, "+6281230000901", "tolong kebakaran rumah di pasar weleri")
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert texts
    with db.session() as session:
        assert session.scalars(select(Ticket)).first() is not None
    turn = [name for name in threads if name.startswith("turn")]
    assert len(set(turn)) == 1
    assert len(turn) >= 8  # the load, the ticket, its incident and notice, the save
    # Storing the message (the ingest's threads) and announcing it (the default executor's).
    apart = {name for name in threads if not name.startswith("turn")}
    assert all(name.startswith(("ingest", "work")) for name in apart), apart
