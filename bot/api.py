"""The dispatch API: tickets for dispatchers, status changes told to reporters."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from bot.metrics import STATUS_CHANGES
from bot.notify import after_status, queue_status_notice
from bot.services import Services
from bot.tickets import DISPATCHER_STATUSES, TicketClosed, TicketNotFound, TicketView

router = APIRouter(prefix="/api")
_bearer = HTTPBearer(auto_error=False)


def services(request: Request) -> Services:
    """The app's services."""
    found: Services = request.app.state.services
    return found


def dispatcher(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The caller's token name; 401 without a valid bearer token."""
    tokens = services(request).settings.api_tokens()
    if credentials is not None:
        for token in tokens:
            if secrets.compare_digest(credentials.credentials.encode(), token.encode()):
                return "dispatcher-" + token[:4]
    raise HTTPException(401, "a valid bearer token is required",
                        headers={"WWW-Authenticate": "Bearer"})


Dispatcher = Annotated[str, Depends(dispatcher)]
Svc = Annotated[Services, Depends(services)]


class StatusEvent(BaseModel):
    """A dispatcher's status change."""

    model_config = ConfigDict(extra="forbid")
    status: Literal[DISPATCHER_STATUSES]  # type: ignore[valid-type]
    note: str = Field(default="", max_length=2000)
    notify_reporter: bool = True


@router.get("/tickets")
async def list_tickets(svc: Svc, _who: Dispatcher, status: str | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
    """Newest tickets first."""
    views = await asyncio.to_thread(svc.desk.list, status, max(1, min(limit, 500)))
    return [v.to_dict() for v in views]


@router.get("/tickets/{ticket_id}")
async def get_ticket(ticket_id: int, svc: Svc, _who: Dispatcher) -> dict[str, Any]:
    """One ticket with its history."""
    try:
        view = await asyncio.to_thread(svc.desk.get, ticket_id)
        history = await asyncio.to_thread(svc.desk.events, ticket_id)
    except TicketNotFound:
        raise HTTPException(404, "no such ticket") from None
    return view.to_dict() | {"events": history}


@router.post("/tickets/{ticket_id}/events", status_code=201)
async def post_event(ticket_id: int, event: StatusEvent, svc: Svc, who: Dispatcher,
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
