"""The console's HTTP routes under /console: server-rendered Jinja2 pages (autoescaped), one
small script of our own for live updates, form posts with CSRF tokens, a strict CSP."""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from bot.console import accounts
from bot.console.accounts import Staff
from bot.console.board import Board, NotVisible
from bot.console.operations import Operations, Refused, texts
from bot.coordination.ratelimit import RateLimiter
from bot.tickets.desk import OperatorEdit

HERE = Path(__file__).resolve().parent
COOKIE = "sigap_console"
LOGIN_CSRF = "sigap_login"
LANG = "sigap_lang"
HEARTBEAT_SECONDS = 15.0
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
FORM_LIMIT = 16_384

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/console", include_in_schema=False)
static = StaticFiles(directory=HERE / "static")


class Console:
    """What the routes need, built once per app."""

    def __init__(self, board: Board, operations: Operations, limiters: tuple[RateLimiter, RateLimiter],
                 announce: Callable[[int, str], Awaitable[None]], kick: Callable[[], None],
                 secure_cookies: bool, session_hours: float) -> None:
        self.board = board
        self.operations = operations
        # Failed logins per account name, and (more, a centre shares one address) per address.
        self.by_name, self.by_address = limiters
        self.announce = announce
        self.kick = kick
        self.secure = secure_cookies
        self.hours = session_hours


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def language(request: Request) -> str:
    """The console language: ?lang=, else the cookie, else Indonesian."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG) or "id"
    return chosen if chosen in ("id", "en") else "id"


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang = language(request)
    ui = texts()["ui"]

    def t(key: str) -> str:
        entry = ui.get(key)
        return str(entry.get(lang) or entry["id"]) if entry else key

    response = templates.TemplateResponse(request, name, {
        **context, "t": t, "lang": lang, "quick_replies": [q[lang] for q in texts()["quick_replies"]],
    }, status_code=status)
    _harden(response)
    if request.query_params.get("lang") in ("id", "en"):
        response.set_cookie(LANG, lang, httponly=True, samesite="strict", path="/console")
    return response


def _harden(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"


async def _staff(request: Request) -> Staff | None:
    db = _console(request).board.db
    return await asyncio.to_thread(accounts.staff_for, db, request.cookies.get(COOKIE))


async def _need_staff(request: Request) -> Staff:
    staff = await _staff(request)
    if staff is None:
        raise HTTPException(401, "log in at /console/login")
    return staff


async def _form(request: Request, staff: Staff | None = None) -> dict[str, str]:
    """A urlencoded form; refused (403) without the session's CSRF token."""
    body = await request.body()
    if len(body) > FORM_LIMIT:
        raise HTTPException(413, "form too large")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "a form must be UTF-8 and urlencoded") from None
    expected = staff.csrf_token if staff else request.cookies.get(LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(form.get("csrf", "").encode(), expected.encode()):
        raise HTTPException(403, "missing or wrong form token; reload the page")
    return form


# -- login -------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    return RedirectResponse("/console/board", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, failed: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    response = _render(request, "login.html", {"csrf": token, "failed": failed})
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", secure=_console(request).secure,
                        path="/console")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    console = _console(request)
    form = await _form(request)
    name, password = form.get("name", "")[:64], form.get("password", "")[:200]
    client = request.client.host if request.client else "?"
    if await console.by_name.exceeded(name) or await console.by_address.exceeded(client):
        return RedirectResponse("/console/login?failed=throttled", status_code=303)
    operator_id = await asyncio.to_thread(accounts.check_password, console.board.db, name, password)
    if operator_id is None:
        await console.by_name.hit(name)
        await console.by_address.hit(client)
        return RedirectResponse("/console/login?failed=wrong", status_code=303)
    await console.by_name.reset(name)
    token = await asyncio.to_thread(accounts.open_session, console.board.db, operator_id, console.hours)
    response = RedirectResponse("/console/board", status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=console.secure,
                        path="/console", max_age=int(console.hours * 3600))
    response.delete_cookie(LOGIN_CSRF, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    staff = await _need_staff(request)
    await _form(request, staff)
    await asyncio.to_thread(accounts.close_session, _console(request).board.db, request.cookies.get(COOKIE))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# -- pages -------------------------------------------------------------------------------------
async def _page_staff(request: Request) -> Staff | Response:
    staff = await _staff(request)
    if staff is None:
        return RedirectResponse("/console/login", status_code=303)
    return staff


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request) -> Response:
    staff = await _page_staff(request)
    if isinstance(staff, Response):
        return staff
    rows = await asyncio.to_thread(_console(request).board.rows, staff)
    return _render(request, "board.html", {"staff": staff, "rows": rows})


@router.get("/board/rows", response_class=HTMLResponse)
async def board_rows(request: Request) -> Response:
    staff = await _need_staff(request)
    rows = await asyncio.to_thread(_console(request).board.rows, staff)
    return _render(request, "_rows.html", {"staff": staff, "rows": rows})


def _detail(console: Console, staff: Staff, public_id: str) -> dict[str, Any]:
    try:
        return console.board.detail(staff, public_id)
    except NotVisible:
        raise HTTPException(404, "no such conversation") from None


@router.get("/c/{public_id}", response_class=HTMLResponse)
async def conversation_page(request: Request, public_id: str, error: str = "") -> Response:
    staff = await _page_staff(request)
    if isinstance(staff, Response):
        return staff
    console = _console(request)
    detail = await asyncio.to_thread(_detail, console, staff, public_id)
    limit = 306 if detail["conversation"]["channel"] in console.operations.fits else 1000
    return _render(request, "conversation.html", {
        "staff": staff, "d": detail, "error": error[:200], "limit": limit,
        "types": list(console.board.rules.routing.routes),
        "priorities": list(console.board.rules.priorities.ranks),
        "agencies": list(console.board.rules.routing.names),
    })


@router.get("/c/{public_id}/transcript", response_class=HTMLResponse)
async def transcript(request: Request, public_id: str) -> Response:
    staff = await _need_staff(request)
    detail = await asyncio.to_thread(_detail, _console(request), staff, public_id)
    return _render(request, "_transcript.html", {"staff": staff, "d": detail})


@router.get("/supervisor", response_class=HTMLResponse)
async def supervisor_page(request: Request) -> Response:
    staff = await _page_staff(request)
    if isinstance(staff, Response):
        return staff
    if not staff.supervises:
        raise HTTPException(403, "for supervisors")
    view = await asyncio.to_thread(_console(request).board.supervision, staff)
    return _render(request, "supervisor.html", {"staff": staff, "v": view})


# -- actions -----------------------------------------------------------------------------------
async def _act(request: Request, public_id: str,
               action: Callable[[Operations, Staff, dict[str, str]], int]) -> Response:
    staff = await _need_staff(request)
    form = await _form(request, staff)
    console = _console(request)
    back = form.get("back") if form.get("back") == "supervisor" else None
    try:
        conversation_id = await asyncio.to_thread(action, console.operations, staff, form)
    except NotVisible:
        raise HTTPException(404, "no such conversation") from None
    except (Refused, ValueError) as error:
        return RedirectResponse(f"/console/c/{public_id}?error={quote(str(error)[:200])}", status_code=303)
    console.kick()
    await console.announce(conversation_id, "console")
    return RedirectResponse("/console/supervisor" if back else f"/console/c/{public_id}", status_code=303)


@router.post("/c/{public_id}/take-over")
async def take_over(request: Request, public_id: str) -> Response:
    return await _act(request, public_id, lambda ops, staff, _form: ops.take_over(staff, public_id))


@router.post("/c/{public_id}/reply")
async def reply(request: Request, public_id: str) -> Response:
    return await _act(request, public_id,
                      lambda ops, staff, form: ops.reply(staff, public_id, form.get("text", "")))


@router.post("/c/{public_id}/hand-back")
async def hand_back(request: Request, public_id: str) -> Response:
    return await _act(request, public_id, lambda ops, staff, _form: ops.hand_back(staff, public_id))


@router.post("/c/{public_id}/close")
async def close(request: Request, public_id: str) -> Response:
    return await _act(request, public_id, lambda ops, staff, _form: ops.close(staff, public_id))


@router.post("/c/{public_id}/reassign")
async def reassign(request: Request, public_id: str) -> Response:
    return await _act(request, public_id,
                      lambda ops, staff, form: ops.reassign(staff, public_id, form.get("to", "")))


@router.post("/c/{public_id}/sender/mark")
async def mark_sender(request: Request, public_id: str) -> Response:
    return await _act(request, public_id, lambda ops, staff, _form: ops.mark_sender(staff, public_id))


@router.post("/c/{public_id}/sender/clear")
async def clear_sender(request: Request, public_id: str) -> Response:
    return await _act(request, public_id, lambda ops, staff, _form: ops.clear_sender(staff, public_id))


@router.post("/c/{public_id}/tickets/{ticket_id}")
async def edit_ticket(request: Request, public_id: str, ticket_id: int) -> Response:
    if not 0 < ticket_id < 2**63:
        raise HTTPException(404, "no such ticket")
    services = request.app.state.services

    def action(ops: Operations, staff: Staff, form: dict[str, str]) -> int:
        return ops.edit_ticket(staff, public_id, ticket_id, _edit(services, form))

    return await _act(request, public_id, action)


def _edit(services: Any, form: dict[str, str]) -> OperatorEdit:
    """The changed fields of the ticket form (an unchanged field is left as it is)."""
    place = form.get("location", "").strip()[:300]
    located = None
    if place and place != form.get("location_was", "").strip():
        found = services.resolve_location(place)
        located = found.to_dict() if found else None
    else:
        place = ""
    kind = form.get("type", "")
    agencies = [a for a in form.get("agencies", "").replace(" ", "").split(",") if a]
    return OperatorEdit(
        emergency_type=kind if kind and kind != form.get("type_was") else None,
        location_text=place or None, location=located,
        priority=form["priority"] if form.get("priority", "-") != form.get("priority_was", "-") else None,
        agencies=agencies if form.get("agencies", "") != form.get("agencies_was", "") else None,
        note=form.get("note", "").strip()[:1000],
    )


# -- live updates --------------------------------------------------------------------------------
@router.get("/events")
async def events(request: Request) -> Response:
    """Server-sent events: which conversation changed (ids only), for the operator's regions."""
    staff = await _need_staff(request)
    pubsub = request.app.state.conversations.events

    async def stream() -> AsyncIterator[str]:
        async with pubsub.subscribe() as subscription:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                event = await subscription.next(HEARTBEAT_SECONDS)
                if event is None:
                    yield ": keep-alive\n\n"
                elif staff.covers(str(event.get("region", ""))):
                    data = {"conversation": event.get("public_id"), "kind": event.get("kind")}
                    yield f"event: change\ndata: {json.dumps(data)}\n\n"

    response = StreamingResponse(stream(), media_type="text/event-stream")
    _harden(response)
    response.headers["X-Accel-Buffering"] = "no"
    return response
