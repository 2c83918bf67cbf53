"""A prank or a test with no hazard signal: a short, polite word on what 112 is for, and the
centre's own text on sanctions for misuse (regions.yml `redirects.prank`). Never a ticket."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from bot.services import current

DomainDict = dict[str, Any]


class ActionPrank(Action):
    """What 112 is for, then the local sanction text when the centre has one."""

    def name(self) -> str:
        return "action_prank"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_prank")
        services = current()
        region = await asyncio.to_thread(services.region_of, context.conversation_id(tracker))
        text = services.regions.centre(region).redirects.get("prank")
        if text:
            dispatcher.utter_message(text=text.get(context.language(tracker)) or text["id"])
        return [SlotSet("triage", {"outcome": "prank"})]
