"""The dispatch API: tickets for dispatchers, status changes told to reporters."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from bot.delivery.notices import after_status, queue_status_notice
from bot.messages import clean_text
from bot.metrics import STATUS_CHANGES
from bot.services import Services
from bot.tickets.dispatchers import Access, Dispatchers
from bot.tickets.views import DISPATCHER_STATUSES, STATUSES, TicketClosed, TicketNotFound, TicketView
from bot.web.auth import authenticate

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


def dispatcher(request: Request, authorization: Annotated[str | None, Depends(_authorization)]) -> Access:
    """The caller; 401 without a valid bearer token (bot/web/auth.py)."""
    svc = services(request)
    access = authenticate(svc.db, svc.settings, authorization)
    if access is None:
        raise HTTPException(401, "a valid bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    return access


def ticket_id(ticket_id: str) -> int:
    """The ticket id of the path; 404 for anything that cannot be one."""
    if not _TICKET_ID.fullmatch(ticket_id) or int(ticket_id) >= 2**63:
        raise HTTPException(404, "no such ticket")
    return int(ticket_id)


Dispatcher = Annotated[Access, Depends(dispatcher)]
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


def readers(svc: Services) -> Dispatchers:
    """What dispatchers may read."""
    return Dispatchers(svc.db, svc.desk.rules)


@router.get("/tickets")
async def list_tickets(svc: Svc, who: Dispatcher,
                       status: Literal[STATUSES] | None = None,  # type: ignore[valid-type]
                       limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, Any]]:
    """The caller's incidents (ticket-v1 documents), newest first."""
    return await asyncio.to_thread(readers(svc).incidents, who, status, limit)


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: TicketId, svc: Svc, who: Dispatcher) -> dict[str, Any]:
    """The incident a ticket reports (ticket-v1), with every reporter and its history; 404 when
    it is not the caller's agency's or region's."""
    try:
        return await asyncio.to_thread(readers(svc).ticket, who, ticket_id)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None


@router.post("/tickets/{ticket_id}/events", status_code=201)
async def post_event(ticket_id: TicketId, event: StatusEvent, svc: Svc, who: Dispatcher,
                     request: Request) -> dict[str, Any]:
    """Change the incident's status and tell every reporter of it, each in their language."""
    told: list[str] = []

    def tell(session: Session, changed: TicketView) -> None:
        if event.notify_reporter:
            told.append(queue_status_notice(svc, session, changed).text)

    try:
        await asyncio.to_thread(readers(svc).check, who, ticket_id)
        view = await asyncio.to_thread(svc.desk.set_status, ticket_id, event.status, who.actor,
                                       event.note, tell)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None
    except TicketClosed as closed:
        raise HTTPException(409, str(closed)) from None
    STATUS_CHANGES.labels(event.status).inc()
    await asyncio.to_thread(after_status, svc, view)
    request.app.state.outbox.kick()
    return {"ticket": await asyncio.to_thread(readers(svc).ticket, who, ticket_id),
            "told_reporter": told[0] if told else None, "told_reporters": len(told)}


@router.post("/tickets/{ticket_id}/split", status_code=201)
async def split_ticket(ticket_id: TicketId, svc: Svc, who: Dispatcher) -> dict[str, Any]:
    """A report wrongly taken for the same incident as others gets an incident of its own."""
    try:
        await asyncio.to_thread(readers(svc).check, who, ticket_id)
        await asyncio.to_thread(svc.desk.split, ticket_id, who.actor)
        return await asyncio.to_thread(readers(svc).ticket, Access(who.name, None, None), ticket_id)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None


@router.get("/conversations/{public_id}")
async def get_conversation(public_id: Annotated[str, Path(pattern=r"^[0-9a-f]{8,32}$")], svc: Svc,
                           who: Dispatcher) -> dict[str, Any]:
    """A reporter's whole conversation, for the agencies of its tickets; 404 for anyone else."""
    try:
        return await asyncio.to_thread(readers(svc).transcript, who, public_id)
    except LookupError:
        raise HTTPException(404, "no such conversation") from None
