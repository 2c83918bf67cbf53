"""Liveness, readiness and metrics: what a load balancer and Prometheus ask every few seconds."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from bot.metrics import OUTBOX_DEPTH
from bot.services import Services
from bot.storage.models import OutboxMessage

log = logging.getLogger(__name__)
router = APIRouter()
# A readiness probe answers within the balancer's patience, whatever the servers do.
PROBE_SECONDS = 2.0
_CHANNELS_SEEN: set[str] = set()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


def _database(services: Services) -> None:
    with services.db.session() as session:
        session.execute(text("SELECT 1"))


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers, and Redis when one is configured; else 503 with which."""
    services: Services = request.app.state.services
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(asyncio.to_thread(_database, services), PROBE_SECONDS)
        checks["database"] = "ok"
    except Exception as error:  # any failure of the database means not ready
        log.warning("not ready, database: %s", error)
        checks["database"] = "unavailable"
    redis = getattr(request.app.state, "redis_probe", None)
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), PROBE_SECONDS)
            checks["redis"] = "ok"
        except Exception as error:  # any failure of Redis means not ready
            log.warning("not ready, redis: %s", error)
            checks["redis"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", **checks},
                        status_code=200 if ready else 503)


def _outbox_depth(services: Services, seen: set[str]) -> None:
    with services.db.session() as session:
        rows = session.execute(select(OutboxMessage.channel, func.count())
                               .where(OutboxMessage.status == "pending").group_by(OutboxMessage.channel))
        depth = {str(channel): int(count) for channel, count in rows}
    seen.update(depth)
    for channel in seen:  # a channel whose queue emptied reads 0, not its last depth
        OUTBOX_DEPTH.labels(channel).set(depth.get(channel, 0))


@router.get("/metrics")
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format; the outbox depth is read from the database now."""
    try:
        await asyncio.to_thread(_outbox_depth, request.app.state.services, _CHANNELS_SEEN)
    except Exception as error:  # the other figures are still worth reading
        log.warning("outbox depth not read: %s", error)
    return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)
