"""Custom slot extraction after every message: language, type, cues, GPS location."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.guide import start_events
from bot.delivery import reminders
from bot.dialogue import guidance
from bot.services import current
from bot.tickets.routing import UNKNOWN_TYPE

# Words a reporter sends to make the bot stop writing (someone hiding from an attacker).
STOP_WORDS = frozenset({"stop", "diam", "berhenti", "jangan balas", "stop pesan"})
# Cues that mean someone is hurt.
INJURY_CUES = frozenset({"not_breathing", "unconscious", "heavy_bleeding", "trapped", "burn",
                         "electrocution", "drowning", "seizure", "choking", "snakebite",
                         "anaphylaxis", "breathing_difficulty"})
# Short replies ("ya", "ok") say little about the reporter's language.
MIN_TOKENS_FOR_LANGUAGE = 3


class ActionExtractReportSlots(Action):
    """Fills user_language, emergency_type, cues and the location from GPS or the parse."""

    def name(self) -> str:
        return "action_extract_report_slots"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        parse = tracker.latest_message or {}
        events: list[dict[str, Any]] = []
        language = parse.get("language")
        words = len(str(parse.get("text", "")).split())
        sure = words >= MIN_TOKENS_FOR_LANGUAGE or parse.get("language_certain")
        if language and sure and language != tracker.get_slot("user_language"):
            events.append(SlotSet("user_language", language))
        if bool(parse.get("needs_check")) != bool(tracker.get_slot("danger_check")):
            events.append(SlotSet("danger_check", bool(parse.get("needs_check"))))
        silenced = _is_stop_word(str(parse.get("text", "")))
        if silenced != bool(tracker.get_slot("silenced")):
            events.append(SlotSet("silenced", silenced))
        if silenced:
            await asyncio.to_thread(reminders.cancel, current().db, context.conversation_id(tracker))
            return events
        events += await self._emergency_type(dispatcher, tracker, parse)
        events += await self._cues(tracker, parse)
        events += await self._location(tracker, parse)
        return events

    async def _cues(self, tracker: Tracker, parse: dict[str, Any]) -> list[Any]:
        """New critical cues: onto the ticket (priority) and start their protocol."""
        known = set(tracker.get_slot("cues") or [])
        new = set(parse.get("cues") or []) - known
        if not new:
            return []
        cues = sorted(known | new)
        ticket = await context.open_ticket(tracker)
        if ticket:
            await asyncio.to_thread(
                context.desk().update, ticket.id, context.details(tracker, cues=tuple(cues))
            )
        events: list[Any] = [SlotSet("cues", cues)]
        hurt = sorted(new & INJURY_CUES)
        if hurt and not tracker.get_slot("people_injured"):
            # "not breathing" answers "is anyone hurt?" before it is asked.
            events.append(SlotSet("people_injured", ", ".join(hurt)))
        kind = (parse.get("emergency_type") or {}).get("name") or tracker.get_slot("emergency_type")
        protocol = guidance.protocol_for(kind, sorted(new))
        state = tracker.get_slot("guidance") or {}
        if protocol and protocol.topic != state.get("topic"):
            events += start_events(protocol.topic, urgent=True)
        return events

    async def _emergency_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, parse: dict[str, Any]
    ) -> list[Any]:
        """A type arrives, is corrected, or a second emergency is named (see README, "the type
        can change"): the slot moves for the first two, and the form's validation re-routes."""
        new_type = (parse.get("emergency_type") or {}).get("name")
        current_type = tracker.get_slot("emergency_type")
        if not new_type or new_type == current_type:
            return []
        cues = list(parse.get("cues") or [])
        if current_type in (None, UNKNOWN_TYPE) or parse.get("corrects"):
            return [SlotSet("emergency_type", new_type),
                    *switch_guidance(tracker, new_type, cues, urgent=bool(cues))]
        if parse.get("intent", {}).get("name") != "report_emergency":
            return []
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            return []
        if parse.get("also") and new_type not in ticket.other_types:
            return await context.second_report(dispatcher, tracker, new_type)
        # A further emergency of the same report (a fire, then someone unconscious): the ticket
        # keeps its type and gains the other type's agencies.
        await context.add_type(dispatcher, tracker, ticket, new_type)
        return []

    async def _location(self, tracker: Tracker, parse: dict[str, Any]) -> list[Any]:
        gps = (parse.get("metadata") or {}).get("location")
        if gps:
            lat, lon = float(gps["latitude"]), float(gps["longitude"])
            detail = await context.resolve(None, lat, lon)
            return [SlotSet("location", f"GPS {lat:.5f},{lon:.5f}"), SlotSet("location_detail", detail)]
        if parse.get("location"):
            return [SlotSet("location_detail", parse["location"])]
        return []


def switch_guidance(tracker: Tracker, kind: str, cues: list[str], urgent: bool) -> list[Any]:
    """Start the protocol of a type that arrived or changed, unless a protocol started by a
    critical cue is under way (it matters more) or the same one already runs."""
    state = tracker.get_slot("guidance") or {}
    if state.get("urgent") and (state.get("next") or state.get("at")):
        return []
    protocol = guidance.protocol_for(kind, [*cues, *(tracker.get_slot("cues") or [])])
    if protocol is None or protocol.topic == state.get("topic"):
        return []
    return start_events(protocol.topic, urgent=urgent)


def _is_stop_word(text: str) -> bool:
    return text.strip().strip(".!").lower() in STOP_WORDS
