"""Turn threads: a whole dialogue turn in one thread, its blocking steps run in place.

A turn's database work blocks, so it cannot run on the process's event loop (the webhooks would
wait for it). Handing each step to a thread (`asyncio.to_thread`) costs a hand-over each: a thread
woken, the interpreter lock passed, the loop woken again; measured by bench/turn.py --inline at
about 1 ms of CPU each, four a turn. Here the turn's coroutine runs whole in a thread of its own,
on an event loop of that thread whose hand-overs run at once, in the same thread: one hand-over a
turn. What is bound to the process's loop (its Redis clients) is reached with `on_loop`.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar, TypeVarTuple

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _TurnLoop(asyncio.SelectorEventLoop):
    """A turn thread's loop: what a turn hands to a thread (`asyncio.to_thread`, or any executor
    named) runs at once, in place, and is awaited as a finished future (no thread, no wake-up)."""

    def run_in_executor(self, executor: Executor | None, func: Callable[[*Ts], T],
                        *args: *Ts) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as error:  # handed back to the awaiting coroutine
            future.set_exception(error)
        return future


async def _awaited(future: asyncio.Future[T]) -> T:
    return await future


class TurnThreads:
    """`size` threads, each with its own event loop, running turns one at a time each."""

    def __init__(self, size: int) -> None:
        self._local = threading.local()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._pool = ThreadPoolExecutor(size, thread_name_prefix="turn", initializer=self._start)
        self._home: asyncio.AbstractEventLoop | None = None

    def _start(self) -> None:
        loop = _TurnLoop()
        self._local.loop = loop
        self._loops.append(loop)

    def _run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return self._local.loop.run_until_complete(work())  # type: ignore[no-any-return]

    async def run(self, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """`work()` awaited in a turn thread, in a copy of the caller's context; its result or error."""
        home = asyncio.get_running_loop()
        self._home = self._home or home
        context = contextvars.copy_context()
        return await home.run_in_executor(self._pool, context.run, self._run, work)

    async def on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        """`work` awaited on the loop that runs the turns (`run`'s caller), from wherever it is."""
        home = self._home
        if home is None or asyncio.get_running_loop() is home:
            return await work
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, home))

    async def result_of(self, future: asyncio.Future[T]) -> T:
        """The result of a future of the loop that runs the turns (work a turn's caller started for
        it): read at once when it is in, no hand-over; else awaited there (`on_loop`)."""
        if future.done():
            return future.result()
        return await self.on_loop(_awaited(future))

    def close(self) -> None:
        """Wait for the turns under way, then stop the threads and close their loops."""
        self._pool.shutdown(wait=True)
        for loop in self._loops:
            loop.close()
        self._loops.clear()
