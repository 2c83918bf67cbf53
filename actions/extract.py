"""Custom slot extraction after every message: language, type, cues, GPS location."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context

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
        events += await self._emergency_type(tracker, parse)
        cues = sorted(set(tracker.get_slot("cues") or []) | set(parse.get("cues") or []))
        if cues != sorted(tracker.get_slot("cues") or []):
            events.append(SlotSet("cues", cues))
        events += await self._location(tracker, parse)
        return events

    async def _emergency_type(self, tracker: Tracker, parse: dict[str, Any]) -> list[Any]:
        label = parse.get("emergency_type") or {}
        new_type = label.get("name")
        if not new_type:
            return []
        current_type = tracker.get_slot("emergency_type")
        if current_type is None:
            return [SlotSet("emergency_type", new_type)]
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
