"""The HTTP app: webhooks, REST channel, dispatch API, operator console, health and metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from bot.console import routes as console_routes
from bot.console.board import Board
from bot.console.operations import Operations
from bot.coordination.ratelimit import build_limiter
from bot.plugins import ChannelPlugin, ChannelRegistry, configured_plugins
from bot.privacy import configure_logging
from bot.runtime import Core, running_core
from bot.settings import Settings, get_settings
from bot.web import api, health
from bot.web.guard import AccessLog, BodyLimit, install_error_handlers

log = logging.getLogger(__name__)


def build_console(settings: Settings, core: Core, plugins: list[ChannelPlugin]) -> console_routes.Console:
    """The console's parts: the board, the operations, the login limiter."""
    services = core.services
    board = Board(services.db, services.desk.rules, settings.console_silent_minutes)
    fits = {p.name: p.fits for p in plugins if p.fits}
    operations = Operations(services.db, board, services.desk, fits)
    attempts, window = settings.console_login_attempts, 15 * 60
    limiters = (build_limiter("login-name", attempts, window, settings.redis_url),
                build_limiter("login-address", attempts * 10, window, settings.redis_url))
    return console_routes.Console(board, operations, limiters, core.conversations.announce, core.outbox.kick,
                                  settings.public_url.startswith("https://"), settings.console_session_hours)


def _redis_probe(settings: Settings) -> Any:
    """A client for /readyz's Redis check (None without REDIS_URL)."""
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(settings.redis_url, socket_timeout=health.PROBE_SECONDS,
                          socket_connect_timeout=health.PROBE_SECONDS)


def create_app(settings: Settings | None = None,
               registries: list[ChannelRegistry] | None = None) -> FastAPI:
    """The app, with the channels of `registries` (default: the installed ones); the NLU model
    must exist for the current data (`sigap train`)."""
    settings = settings or get_settings()
    if not logging.getLogger().handlers:  # a process uvicorn started (`sigap serve --workers N`)
        configure_logging(json_lines=settings.log_format == "json")
    plugins = configured_plugins(settings, registries)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        senders = [p.sender for p in plugins if p.sender]
        background = [p.background for p in plugins if p.background]
        async with running_core(settings, senders, background) as core:
            app.state.services, app.state.outbox = core.services, core.outbox
            app.state.conversations = core.conversations
            app.state.console = build_console(settings, core, plugins)
            app.state.redis_probe = _redis_probe(settings)
            try:
                yield
            finally:
                for limiter in (app.state.console.by_name, app.state.console.by_address):
                    await limiter.close()
                if app.state.redis_probe is not None:
                    await app.state.redis_probe.aclose()

    app = FastAPI(title="Sigap 112", lifespan=lifespan)
    app.add_middleware(BodyLimit, timeout=settings.http_body_timeout_seconds)
    app.add_middleware(AccessLog)
    install_error_handlers(app)
    for plugin in plugins:
        app.include_router(plugin.router)
    app.include_router(api.router)
    app.include_router(health.router)
    app.include_router(console_routes.router)
    app.mount("/console/static", console_routes.static, name="console-static")

    return app
