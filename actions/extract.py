"""Custom slot extraction after every message: language, type, cues, GPS location."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.guide import start_events
from bot import guidance, reminders
from bot.services import current

# Words a reporter sends to make the bot stop writing (someone hiding from an attacker).
STOP_WORDS = frozenset({"stop", "diam", "berhenti", "jangan balas", "stop pesan"})
# Cues that mean someone is hurt.
INJURY_CUES = frozenset({"not_breathing", "unconscious", "heavy_bleeding", "trapped", "burn",
                         "electrocution", "drowning", "seizure", "choking", "snakebite"})
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
        if language and words >= MIN_TOKENS_FOR_LANGUAGE and language != tracker.get_slot(
            "user_language"
        ):
            events.append(SlotSet("user_language", language))
        silenced = _is_stop_word(str(parse.get("text", "")))
        if silenced != bool(tracker.get_slot("silenced")):
            events.append(SlotSet("silenced", silenced))
        if silenced:
            await asyncio.to_thread(reminders.cancel, current().db, context.conversation_id(tracker))
            return events
        events += await self._emergency_type(tracker, parse)
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
        kind = tracker.get_slot("emergency_type") or (parse.get("emergency_type") or {}).get("name")
        protocol = guidance.protocol_for(kind, sorted(new))
        state = tracker.get_slot("guidance") or {}
        if protocol and protocol.topic != state.get("topic"):
            events += start_events(protocol.topic, urgent=True)
        return events

    async def _emergency_type(self, tracker: Tracker, parse: dict[str, Any]) -> list[Any]:
        label = parse.get("emergency_type") or {}
        new_type = label.get("name")
        if not new_type:
            return []
        current_type = tracker.get_slot("emergency_type")
        if current_type is None:
            events: list[Any] = [SlotSet("emergency_type", new_type)]
            protocol = guidance.protocol_for(new_type, list(parse.get("cues") or []))
            if protocol and not tracker.get_slot("guidance"):
                events += start_events(protocol.topic, urgent=bool(parse.get("cues")))
            return events
        if new_type != current_type and parse.get("intent", {}).get("name") == "report_emergency":
            # A second emergency in the same report (a fire, then someone unconscious):
            # the ticket keeps its type and gains the other type's agencies.
            ticket = await context.open_ticket(tracker)
            if ticket:
                await asyncio.to_thread(
                    context.desk().update, ticket.id, context.details(tracker), new_type
                )
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


def _is_stop_word(text: str) -> bool:
    return text.strip().strip(".!").lower() in STOP_WORDS
