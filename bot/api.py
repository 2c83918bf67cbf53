"""The dispatch API: tickets for dispatchers, status changes told to reporters."""

from __future__ import annotations

import asyncio
import hmac
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from bot.messages import clean_text
from bot.metrics import STATUS_CHANGES
from bot.notify import after_status, queue_status_notice
from bot.services import Services
from bot.tickets import DISPATCHER_STATUSES, STATUSES, TicketClosed, TicketNotFound, TicketView

router = APIRouter(prefix="/api")
# Shown in the OpenAPI schema; the header is read and checked by `dispatcher` below.
_authorization = APIKeyHeader(name="Authorization", auto_error=False,
                              description="Bearer <token> of a dispatcher")
# A ticket id: what the database holds (64-bit), written plainly ("1_0" is not 10).
_TICKET_ID = re.compile(r"[1-9][0-9]{0,17}")


def services(request: Request) -> Services:
    """The app's services."""
    found: Services = request.app.state.services
    return found


def dispatcher(request: Request, authorization: Annotated[str | None, Depends(_authorization)]) -> str:
    """The caller's token name ("dispatcher:<name>"); 401 without a valid bearer token. The
    token is compared exactly (no trimming, no case folding) and in constant time, with every
    configured token, so the time says nothing about which one was close."""
    scheme, _, token_given = (authorization or "").partition(" ")
    # The scheme is case-insensitive (RFC 7235); the token is compared byte for byte.
    given = token_given.encode("utf-8", "surrogateescape") if scheme.lower() == "bearer" else b""
    found = None
    for name, token in services(request).settings.named_api_tokens().items():
        if hmac.compare_digest(given, token.encode()) and given:
            found = name
    if found is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return f"dispatcher:{found}"


def ticket_id(ticket_id: str) -> int:
    """The ticket id of the path; 404 for anything that cannot be one."""
    if not _TICKET_ID.fullmatch(ticket_id) or int(ticket_id) >= 2**63:
        raise HTTPException(404, "no such ticket")
    return int(ticket_id)


Dispatcher = Annotated[str, Depends(dispatcher)]
Svc = Annotated[Services, Depends(services)]
TicketId = Annotated[int, Depends(ticket_id)]


class StatusEvent(BaseModel):
    """A dispatcher's status change."""

    model_config = ConfigDict(extra="forbid")
    status: Literal[DISPATCHER_STATUSES]  # type: ignore[valid-type]
    note: str = Field(default="", max_length=2000)
    notify_reporter: bool = True

    @field_validator("note")
    @classmethod
    def _printable(cls, note: str) -> str:
        return clean_text(note)


@router.get("/tickets")
async def list_tickets(svc: Svc, _who: Dispatcher,
                       status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
                       limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """Newest tickets first."""
    views = await asyncio.to_thread(svc.desk.list, status, limit)
    return [v.to_dict() for v in views]


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: TicketId, svc: Svc, _who: Dispatcher) -> dict[str, Any]:
    """One ticket with its history."""
    try:
        view = await asyncio.to_thread(svc.desk.get, ticket_id)
        history = await asyncio.to_thread(svc.desk.events, ticket_id)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None
    return view.to_dict() | {"events": history}


@router.post("/tickets/{ticket_id}/events", status_code=201)
async def post_event(ticket_id: TicketId, event: StatusEvent, svc: Svc, who: Dispatcher,
                     request: Request) -> dict[str, Any]:
    """Change a ticket's status and tell the reporter in their language."""
    told: list[str] = []

    def tell(session: Session, changed: TicketView) -> None:
        if event.notify_reporter:
            told.append(queue_status_notice(svc, session, changed).text)

    try:
        view = await asyncio.to_thread(svc.desk.set_status, ticket_id, event.status, who,
                                       event.note, tell)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None
    except TicketClosed as closed:
        raise HTTPException(409, str(closed)) from None
    STATUS_CHANGES.labels(event.status).inc()
    await asyncio.to_thread(after_status, svc, view)
    request.app.state.outbox.kick()
    return {"ticket": view.to_dict(), "told_reporter": told[0] if told else None}
