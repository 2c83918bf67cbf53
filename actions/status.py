"""Status questions and cancellation of a report."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context

DomainDict = dict[str, Any]
# Slots of a report; cleared when the reporter cancels, so a new report starts clean.
REPORT_SLOTS = ("emergency_type", "location", "location_detail", "people_injured",
                "people_count", "cues", "ticket_id", "requested_slot", "location_vague",
                "location_detail_asked", "type_questions", "report_confirmed", "guidance")


class ActionReportStatus(Action):
    """Tells the status of the reporter's latest ticket."""

    def name(self) -> str:
        return "action_report_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            dispatcher.utter_message(response="utter_no_ticket")
            return []
        dispatcher.utter_message(response=f"utter_status_{ticket.status}", ticket_number=ticket.number)
        return []


class ActionAskCancel(Action):
    """Asks the reporter to confirm a cancellation."""

    def name(self) -> str:
        return "action_ask_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            dispatcher.utter_message(response="utter_no_ticket")
            return []
        dispatcher.utter_message(response="utter_ask_cancel_confirm", ticket_number=ticket.number)
        return [SlotSet("cancel_pending", True)]


class ActionCancelReport(Action):
    """Cancels the ticket after confirmation and tells the agencies."""

    def name(self) -> str:
        return "action_cancel_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        events: list[dict[str, Any]] = [SlotSet("cancel_pending", False)]
        if ticket is None:
            dispatcher.utter_message(response="utter_no_ticket")
            return events
        await asyncio.to_thread(
            context.desk().set_status, ticket.id, "cancelled", "reporter",
            (tracker.latest_message or {}).get("text") or "",
        )
        dispatcher.utter_message(response="utter_cancelled", ticket_number=ticket.number)
        return events + [SlotSet(slot, None) for slot in REPORT_SLOTS]


class ActionKeepReport(Action):
    """The reporter did not confirm: the report stays open."""

    def name(self) -> str:
        return "action_keep_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(response="utter_cancel_kept")
        return [SlotSet("cancel_pending", False)]
