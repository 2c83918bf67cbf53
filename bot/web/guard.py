"""The HTTP edge: bounded bodies for every transfer encoding, slow clients cut off, errors that
always render, and an access log that holds no phone number.

Everything here is plain ASGI or a Starlette exception handler, so it runs before any route and
costs one wrapper per request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.messages import InvalidMessage
from bot.privacy import clean_for_log

log = logging.getLogger(__name__)
access_log = logging.getLogger("sigap.access")

# No provider sends more: Twilio's form, a Telegram update, a gateway webhook are a few KB.
MAX_BODY_BYTES = 256 * 1024
# A client that sends nothing for this long is cut off: a request must not hold a worker.
SLOW_CLIENT_SECONDS = 10.0
# How many validation errors a 422 lists, and how long each message may be.
MAX_ERRORS_SHOWN = 10


class BodyTooLarge(Exception):
    """More than MAX_BODY_BYTES arrived (Content-Length or not)."""


class SlowClient(Exception):
    """The client stopped sending its body."""


class BodyLimit:
    """ASGI middleware: 413 for a declared body over the limit before anything is read; for a
    chunked or lying body, reading stops at the limit (BodyTooLarge -> 413); 408 for a client
    that stops sending."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES,
                 timeout: float = SLOW_CLIENT_SECONDS) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not _digits(declared) or int(declared) > self.limit):
            await JSONResponse({"detail": "request body too large"}, 413)(scope, receive, send)
            return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise SlowClient() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge()
            return message

        await self.app(scope, bounded, send)


class AccessLog:
    """ASGI middleware: method, path without its query string (providers put phone numbers
    there), status and time; replaces uvicorn's access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            # "200 in 356 ms": no run of digits a phone number's mask would take for one.
            took = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d in %.0f ms", scope.get("method", "?"),
                            clean_for_log(scope.get("path", "")), status, took)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors that always render: where and what, never the input (which may be NaN,
    bytes that are not UTF-8, a lone surrogate, or a phone number)."""
    shown = []
    for error in list(errors)[:MAX_ERRORS_SHOWN]:
        location = [part if isinstance(part, int) else clean_for_log(str(part), 64)
                    for part in error.get("loc", ())]
        shown.append({"loc": location, "msg": clean_for_log(str(error.get("msg", "")), 200),
                      "type": clean_for_log(str(error.get("type", "")), 64)})
    return shown


def finite_json(value: Any) -> bool:
    """No NaN or infinity anywhere (they are not JSON, and not a place on earth)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_json(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_json(v) for v in value)
    return True


# What a 503 asks the sender to wait before sending again.
RETRY_AFTER_SECONDS = 5


def install_error_handlers(app: FastAPI) -> None:
    """4xx with a short JSON reason for every kind of bad input; rendering cannot itself fail."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": safe_errors(error.errors())}, 422)

    @app.exception_handler(InvalidMessage)
    async def invalid_message(_request: Request, error: InvalidMessage) -> JSONResponse:
        return JSONResponse({"detail": clean_for_log(str(error), 200)}, 400)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_request: Request, _error: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"detail": "request body too large"}, 413)

    @app.exception_handler(SlowClient)
    async def slow(_request: Request, _error: SlowClient) -> JSONResponse:
        return JSONResponse({"detail": "request body not sent in time"}, 408)

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, _error: ClientDisconnect) -> JSONResponse:
        # The client left before its body arrived: nothing to answer, nothing to store.
        log.debug("client left before sending %s", clean_for_log(request.url.path))
        return JSONResponse({"detail": "client disconnected"}, 400)

    # The database or Redis does not answer (a restart, a network cut): 503, so the provider
    # sends the message again; never a 200 for a message that was not stored, and never a 500.
    async def unavailable(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s: storage unavailable: %s", request.method, clean_for_log(request.url.path),
                  clean_for_log(str(error).splitlines()[0] if str(error) else type(error).__name__, 300))
        return JSONResponse({"detail": "temporarily unavailable, send again"}, 503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    for kind in (OperationalError, InterfaceError, PoolTimeout, RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(kind, unavailable)
