"""The report form: a ticket as soon as the type is known, then location and injuries."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions import context

DomainDict = dict[str, Any]


class ValidateReportForm(FormValidationAction):
    """Opens the ticket when the type arrives and updates it with each answer."""

    def name(self) -> str:
        return "validate_report_form"

    async def validate_emergency_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Open and route the ticket now: no question may hold it back."""
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            lang = context.language(tracker)
            ticket = await asyncio.to_thread(
                context.desk().open, context.conversation_id(tracker), str(value), lang,
                context.details(tracker),
            )
            dispatcher.utter_message(
                response="utter_ticket_created",
                ticket_number=ticket.number,
                agencies=context.describe_agencies(ticket.agencies, lang),
            )
        return {"emergency_type": value, "ticket_id": float(ticket.id)}

    async def validate_location(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Resolve the place if the NLU did not, and put it on the ticket."""
        latest = tracker.latest_message or {}
        named = any(e.get("entity") == "location" for e in latest.get("entities", []))
        if latest.get("cues") and not named and not tracker.get_slot("location_detail"):
            # "dia tidak bernapas" answering "where?" is an alarm, not a place.
            return {"location": None}
        detail = tracker.get_slot("location_detail")
        if not detail or (detail.get("text") != value and detail.get("source") != "gps"):
            detail = await context.resolve(str(value))
        ticket = await context.open_ticket(tracker)
        if ticket:
            await asyncio.to_thread(
                context.desk().update, ticket.id,
                context.details(tracker, location_text=str(value), location=detail),
            )
        return {"location": value, "location_detail": detail}

    async def validate_people_injured(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Record who is hurt or in danger on the ticket."""
        ticket = await context.open_ticket(tracker)
        if ticket:
            await asyncio.to_thread(
                context.desk().update, ticket.id,
                context.details(tracker, people_injured=str(value)),
            )
        return {"people_injured": value}


class ActionSubmitReport(Action):
    """Tells the reporter the report is complete and help is coming."""

    def name(self) -> str:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        if ticket:
            dispatcher.utter_message(response="utter_report_complete", ticket_number=ticket.number)
        return []


class ActionUpdateReport(Action):
    """Details or a place outside the form go on the open ticket, or start a report."""

    def name(self) -> str:
        return "action_update_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            return [FollowupAction("report_form")]
        await asyncio.to_thread(context.desk().update, ticket.id, context.details(tracker))
        dispatcher.utter_message(response="utter_ticket_updated", ticket_number=ticket.number)
        return []
