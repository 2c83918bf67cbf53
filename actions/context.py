"""What actions reach outside the tracker: the ticket desk and the routing of this process."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.services import current
from bot.tickets.desk import TicketDesk
from bot.tickets.views import TicketDetails, TicketView


def desk() -> TicketDesk:
    """The process's ticket desk."""
    return current().desk


def conversation_id(tracker: Tracker) -> int:
    """The conversation behind a tracker (the engine uses its id as sender_id)."""
    return int(tracker.sender_id)


def language(tracker: Tracker) -> str:
    """The reporter's language."""
    return "en" if tracker.get_slot("user_language") == "en" else "id"


def describe_agencies(agencies: list[str], lang: str, region: str | None = None) -> str:
    """Agency names for the reporter, as the ticket's 112 centre spells them."""
    services = current()
    return services.routing.describe(agencies, lang, services.regions.centre(region).agencies)


def type_name(emergency_type: str | None, lang: str) -> str:
    """What the reporter is told the emergency is."""
    return current().routing.type_name(emergency_type, lang)


def say_routed(dispatcher: CollectingDispatcher, response: str, ticket: TicketView, lang: str,
               **values: Any) -> None:
    """One line naming the ticket, its type and the agencies it went to."""
    dispatcher.utter_message(
        response=response, ticket_number=ticket.number,
        type_name=type_name(ticket.emergency_type, lang),
        agencies=describe_agencies(ticket.agencies, lang, ticket.region), **values,
    )


async def open_ticket(tracker: Tracker) -> TicketView | None:
    """The conversation's open ticket: the slot's, else the newest open one."""
    ticket_id = tracker.get_slot("ticket_id")
    if ticket_id is not None:
        known, view = desk().remembered(int(ticket_id))  # read once a turn: no hand-over again
        view = view if known else await asyncio.to_thread(desk().get, int(ticket_id))
        if view is not None and view.status not in {"resolved", "cancelled"}:
            return view
    conversation = conversation_id(tracker)
    known, view = desk().remembered_open(conversation)
    return view if known else await asyncio.to_thread(desk().open_for_conversation, conversation)


def details(tracker: Tracker, **overrides: Any) -> TicketDetails:
    """Ticket details from the tracker's slots and the latest message."""
    latest = tracker.latest_message or {}
    values: dict[str, Any] = {
        "description": latest.get("text") or "",
        "attachments": tuple((latest.get("metadata") or {}).get("media") or ()),
        # A vague place ("sungai") still goes on the ticket while the bot asks for more.
        "location_text": tracker.get_slot("location") or tracker.get_slot("location_vague"),
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


async def add_type(dispatcher: CollectingDispatcher, tracker: Tracker, ticket: TicketView,
                   other_type: str) -> TicketView:
    """Another emergency of the same report: the same ticket gains that type's agencies, and the
    reporter is told in one line when any were added."""
    updated = await asyncio.to_thread(desk().add_type, ticket.id, other_type, details(tracker))
    added = [a for a in updated.agencies if a not in ticket.agencies]
    if added:
        lang = language(tracker)
        dispatcher.utter_message(response="utter_ticket_more_agencies", ticket_number=updated.number,
                                 agencies=describe_agencies(added, lang, updated.region))
    return updated


async def second_report(dispatcher: CollectingDispatcher, tracker: Tracker,
                        emergency_type: str) -> list[dict[str, Any]]:
    """"Ada kebakaran juga di sebelah": a second emergency gets its own ticket, with the place
    the message gives or, failing that, the first ticket's (same reporter, close by). The
    conversation goes on about the new ticket."""
    first = await open_ticket(tracker)
    latest = tracker.latest_message or {}
    named = next((e.get("value") for e in latest.get("entities", []) if e.get("entity") == "location"),
                 None)
    place = {"location_text": named, "location": latest.get("location")} if named else {
        "location_text": first.location_text if first else None,
        "location": first.location if first else None,
    }
    lang = language(tracker)
    ticket = await asyncio.to_thread(
        desk().open, conversation_id(tracker), emergency_type, lang, details(tracker, **place),
    )
    say_routed(dispatcher, "utter_second_ticket", ticket, lang)
    return [SlotSet("ticket_id", float(ticket.id)), SlotSet("emergency_type", emergency_type)]
