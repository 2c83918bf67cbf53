"""The HTTP app: webhooks, REST channel, dispatch API, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

import channels
from bot import api, guidance
from bot.conversations import Conversations
from bot.outbox import Outbox
from bot.services import Services, build_engine, build_locks, build_services, set_current
from bot.settings import Settings, get_settings
from nlu.model import NLU

log = logging.getLogger(__name__)
# Larger bodies are refused before they are read: no provider sends more.
MAX_BODY_BYTES = 256 * 1024
# How long shutdown waits for the outbox to finish the sends under way.
SHUTDOWN_SECONDS = 10.0


class BodyLimit(BaseHTTPMiddleware):
    """413 for a declared body larger than MAX_BODY_BYTES."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse({"detail": "request body too large"}, status_code=413)
        return await call_next(request)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; the NLU model must exist for the current data (`sigap train`)."""
    settings = settings or get_settings()
    plugins = channels.plugins(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        nlu = NLU.load(settings.project_dir, settings.models_dir, services.resolve_location)
        guidance.load_protocols()  # read and checked now, not in the middle of someone's turn
        set_current(services)
        outbox = Outbox(
            services.db, {p.name: p.sender for p in plugins if p.sender},
            settings.outbox_first_retry_seconds,
        )
        locks = build_locks(settings)
        conversations = Conversations(
            services, nlu, build_engine(services), outbox.push_channels, locks
        )
        conversations.on_replies.append(outbox.kick)
        app.state.services, app.state.outbox = services, outbox
        app.state.conversations = conversations
        recovered = await conversations.process_backlog()
        if recovered:
            log.warning("processed %d messages left over from a previous run", recovered)
        tasks = [asyncio.create_task(outbox.run())] + [
            asyncio.create_task(p.background(conversations, outbox)) for p in plugins if p.background
        ]
        yield
        await conversations.drain()
        outbox.stop()
        await asyncio.wait(tasks[:1], timeout=SHUTDOWN_SECONDS)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await locks.close()
        set_current(None)
        services.db.dispose()

    app = FastAPI(title="Sigap 112", lifespan=lifespan)
    app.add_middleware(BodyLimit)
    for plugin in plugins:
        app.include_router(plugin.router)
    app.include_router(api.router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        try:
            with services.db.session() as session:
                session.execute(text("SELECT 1"))
        except Exception as error:  # any database failure means not ready
            log.warning("not ready: %s", error)
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return app
