"""A background job: a blocking pass run in a thread every few seconds, until cancelled, that
outlives its own failures (a database restart must not stop the deadline clock)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(seconds: float, what: str, job: Callable[[], object]) -> None:
    """Run `job` now and then every `seconds`; a failure is logged and the next pass tries again."""
    while True:
        try:
            await asyncio.to_thread(job)
        except Exception:  # the job must outlive a database hiccup
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)
