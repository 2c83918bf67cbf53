"""What actions reach outside the tracker: the ticket desk and the routing of this process."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker

from bot.services import current
from bot.tickets import TicketDesk, TicketDetails, TicketView


def desk() -> TicketDesk:
    """The process's ticket desk."""
    return current().desk


def conversation_id(tracker: Tracker) -> int:
    """The conversation behind a tracker (the engine uses its id as sender_id)."""
    return int(tracker.sender_id)


def language(tracker: Tracker) -> str:
    """The reporter's language."""
    return "en" if tracker.get_slot("user_language") == "en" else "id"


def describe_agencies(agencies: list[str], lang: str) -> str:
    """Agency names for the reporter."""
    return current().routing.describe(agencies, lang)


async def open_ticket(tracker: Tracker) -> TicketView | None:
    """The conversation's open ticket: the slot's, else the newest open one."""
    ticket_id = tracker.get_slot("ticket_id")
    if ticket_id is not None:
        view = await asyncio.to_thread(desk().get, int(ticket_id))
        if view.status not in {"resolved", "cancelled"}:
            return view
    return await asyncio.to_thread(desk().open_for_conversation, conversation_id(tracker))


def details(tracker: Tracker, **overrides: Any) -> TicketDetails:
    """Ticket details from the tracker's slots and the latest message."""
    latest = tracker.latest_message or {}
    values: dict[str, Any] = {
        "description": latest.get("text") or "",
        "attachments": tuple((latest.get("metadata") or {}).get("media") or ()),
        "location_text": tracker.get_slot("location"),
        "location": tracker.get_slot("location_detail"),
        "people_injured": tracker.get_slot("people_injured"),
        "cues": tuple(tracker.get_slot("cues") or ()),
    }
    values.update(overrides)
    return TicketDetails(**values)


async def resolve(text: str | None, lat: float | None = None, lon: float | None = None) -> Any:
    """Resolve place words or a GPS pin (gazetteer/geocoder) off the event loop."""
    location = await asyncio.to_thread(current().resolve_location, text, lat, lon)
    return location.to_dict() if location else None
