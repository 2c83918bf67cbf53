"""A reporter asks for a person: the conversation is marked for the console and the reporter is
told an officer will answer. The bot keeps the ticket and any guidance going until one does."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from bot.services import current

DomainDict = dict[str, Any]
REASON = "request_human"


class ActionRequestHuman(Action):
    """Mark the conversation `handoff_requested` (needs a person: the reporter asked)."""

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        await asyncio.to_thread(current().flag_for_operator, context.conversation_id(tracker), REASON)
        dispatcher.utter_message(response="utter_handoff_requested")
        return []
