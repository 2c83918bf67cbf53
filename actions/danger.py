"""A hazard word inside a joke ("kebakaran jenggot wkwk"): ask kindly, never scold, tell an operator."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from bot.services import current

DomainDict = dict[str, Any]
REASON = "hazard_in_prank"


class ActionCheckDanger(Action):
    """Is someone in danger right now? The conversation is marked for an operator meanwhile."""

    def name(self) -> str:
        return "action_check_danger"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        await asyncio.to_thread(current().flag_for_operator, context.conversation_id(tracker), REASON)
        dispatcher.utter_message(response="utter_check_danger")
        return [SlotSet("danger_asked", True), SlotSet("danger_check", False)]


class ActionDangerConfirmed(Action):
    """Yes, someone is in danger: the report starts (a ticket for the 112 desk, then what and where)."""

    def name(self) -> str:
        return "action_danger_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        return [SlotSet("danger_asked", False), FollowupAction("report_form")]


class ActionNoDanger(Action):
    """Nobody is in danger: a kind word on what 112 is for."""

    def name(self) -> str:
        return "action_no_danger"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_no_danger")
        return [SlotSet("danger_asked", False)]
