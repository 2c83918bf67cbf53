"""What is not an emergency leaves politely: a question about 112 gets the centre's answer, a
complaint gets the office that takes it (regions.yml). Outside a report the contact is then
closed without a ticket and counted as information (the `triage` slot tells the core)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from bot.services import current

DomainDict = dict[str, Any]


def _in_report(tracker: Tracker) -> bool:
    """A report or its guidance under way: nothing is closed."""
    return bool(tracker.get_slot("ticket_id") is not None or tracker.active_loop_name
                or tracker.get_slot("guidance_waiting"))


def _information(tracker: Tracker, target: str, region: str) -> list[dict[str, Any]]:
    if tracker.get_slot("danger_check"):
        return []  # the hazard question that follows decides what this contact was
    return [SlotSet("triage", {"outcome": "information", "target": target, "region": region,
                               "close": not _in_report(tracker)})]


async def _region(tracker: Tracker) -> str:
    """The centre of the place the message names ("sampah di tembalang semarang"), else the
    conversation's."""
    place = (tracker.latest_message or {}).get("location")
    if place and (place.get("admin") or {}).get("code"):
        return current().regions.centre_for(place).code
    return await asyncio.to_thread(current().region_of, context.conversation_id(tracker))


@dataclass(frozen=True)
class _Asked:
    """What the reporter wrote, in which language, to which centre."""

    text: str
    lang: str
    region: str


async def _asked(tracker: Tracker) -> _Asked:
    text = (tracker.latest_message or {}).get("text") or ""
    return _Asked(text, context.language(tracker), await _region(tracker))


def _faq(dispatcher: CollectingDispatcher, tracker: Tracker, asked: _Asked) -> list[dict[str, Any]] | None:
    """A question about 112 answered from the centre's FAQ (its events), else None."""
    answer = current().redirects.answer(asked.text, asked.region, asked.lang)
    if answer is None:
        return None
    dispatcher.utter_message(text=answer.text)
    return _information(tracker, answer.target, asked.region)


class ActionNonEmergency(Action):
    """A question about 112 answered, else the office for the complaint."""

    def name(self) -> str:
        return "action_non_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        asked = await _asked(tracker)
        events = _faq(dispatcher, tracker, asked)
        if events is not None:
            return events
        office = current().redirects.office(asked.text, asked.region, asked.lang)
        if office.topic is None:
            dispatcher.utter_message(response="utter_non_emergency", office=office.office)
        else:
            dispatcher.utter_message(response="utter_non_emergency_office", topic=office.topic,
                                     office=office.office)
        return _information(tracker, office.target, asked.region)


class ActionOutOfScope(Action):
    """A question about 112 answered, else the reminder of what to write in an emergency."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        events = _faq(dispatcher, tracker, await _asked(tracker))
        if events is None:
            dispatcher.utter_message(response="utter_default")
            return []
        return events
