"""The report form: a ticket at once (type unknown if need be), then what, where and who is hurt."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from actions.guide import repeat_question
from bot.tickets.routing import UNKNOWN_TYPE
from bot.tickets.views import TicketView
from nlu.entities import is_vague
from nlu.normalise import normalise

DomainDict = dict[str, Any]
# "What happened?" is asked this many times; then the form goes on to the place and an
# operator reads the rest (the ticket stays with the 112 desk).
MAX_TYPE_QUESTIONS = 2
# Answers to "where?" that are something else (a yes, a thank-you, a status question).
NOT_PLACES = frozenset({"affirm", "deny", "thanks", "ask_status", "cancel_report"})


async def ensure_ticket(dispatcher: CollectingDispatcher, tracker: Tracker, kind: str) -> TicketView:
    """The conversation's open ticket; opened and routed now, and said, if there is none."""
    ticket = await context.open_ticket(tracker)
    if ticket is not None:
        return ticket
    lang = context.language(tracker)
    ticket = await asyncio.to_thread(
        context.desk().open, context.conversation_id(tracker), kind, lang, context.details(tracker),
    )
    response = "utter_ticket_created_unknown" if kind == UNKNOWN_TYPE else "utter_ticket_created"
    context.say_routed(dispatcher, "utter_ticket_joined" if ticket.joined else response, ticket, lang)
    return ticket


async def reconcile_type(
    dispatcher: CollectingDispatcher, tracker: Tracker, ticket: TicketView, kind: str
) -> TicketView:
    """The slot names another type than the ticket: route the ticket anew and say so in a line."""
    if kind in (UNKNOWN_TYPE, ticket.emergency_type):
        return ticket
    lang = context.language(tracker)
    view, old = await asyncio.to_thread(
        context.desk().retype, ticket.id, kind, context.details(tracker)
    )
    if old == UNKNOWN_TYPE:
        context.say_routed(dispatcher, "utter_ticket_typed", view, lang)
    else:
        context.say_routed(dispatcher, "utter_ticket_retyped", view, lang,
                           old_type_name=context.type_name(old, lang))
    return view


class ValidateReportForm(FormValidationAction):
    """Opens the ticket when the type arrives and updates it with each answer."""

    def name(self) -> str:
        return "validate_report_form"

    async def validate_emergency_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Open and route the ticket now (no question may hold it back), or re-route it."""
        ticket = await ensure_ticket(dispatcher, tracker, str(value))
        ticket = await reconcile_type(dispatcher, tracker, ticket, str(value))
        return {"emergency_type": value, "ticket_id": float(ticket.id)}

    async def validate_location(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Put a place on the ticket. What is not a place is refused; a place too vague to find
        ("sungai", "di jalan") is kept on the ticket and asked about once more."""
        latest = tracker.latest_message or {}
        gps = (tracker.get_slot("location_detail") or {}).get("source") == "gps"
        if not gps and not _names_a_place(latest):
            return {"location": None}
        text = str(value)
        earlier = tracker.get_slot("location_vague")
        if earlier and earlier.lower() not in text.lower():
            text = f"{earlier}, {text}"
        detail = tracker.get_slot("location_detail")
        if not gps and (not detail or detail.get("text") != text):
            detail = await context.resolve(text)
        ticket = await context.open_ticket(tracker)
        if ticket:
            updated = await asyncio.to_thread(
                context.desk().update, ticket.id,
                context.details(tracker, location_text=text, location=detail),
            )
            if updated.joined:  # with its place, another reporter's incident: help is on its way
                context.say_routed(dispatcher, "utter_ticket_joined", updated, context.language(tracker))
        if not gps and not earlier and is_vague(text):
            return {"location": None, "location_vague": text, "location_detail": detail}
        return {"location": text, "location_detail": detail, "location_vague": None}

    async def validate_people_injured(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Record who is hurt or in danger on the ticket ("tidak ada yang luka" is a no, whatever
        the tagger took "luka" for)."""
        latest = tracker.latest_message or {}
        if value != "tidak" and denies_injury(latest.get("text") or "", latest.get("cues") or []):
            value = "tidak"
        ticket = await context.open_ticket(tracker)
        if ticket:
            await asyncio.to_thread(
                context.desk().update, ticket.id,
                context.details(tracker, people_injured=str(value)),
            )
        return {"people_injured": value}


def _names_a_place(latest: dict[str, Any]) -> bool:
    """An answer to "where?" is a place unless it is something else: a yes or a thank-you, or a
    message that says what happened (a type, a hazard, a cue) without naming a place."""
    intent = (latest.get("intent") or {}).get("name")
    if intent in NOT_PLACES:
        return False
    if any(e.get("entity") == "location" for e in latest.get("entities", [])):
        return True
    if intent == "provide_location":
        return True
    says_what = latest.get("cues") or latest.get("hazards") or latest.get("emergency_type")
    return not says_what and not latest.get("help_call") and not latest.get("needs_check")


class ActionAskEmergencyType(Action):
    """"Tolong" alone: the ticket opens now for the 112 desk, then: what happened, and where?"""

    def name(self) -> str:
        return "action_ask_emergency_type"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await ensure_ticket(dispatcher, tracker, UNKNOWN_TYPE)
        events: list[dict[str, Any]] = [SlotSet("ticket_id", float(ticket.id))]
        asked = int(tracker.get_slot("type_questions") or 0)
        if asked >= MAX_TYPE_QUESTIONS:
            return [*events, SlotSet("emergency_type", UNKNOWN_TYPE), FollowupAction("report_form")]
        has_place = tracker.get_slot("location") or tracker.get_slot("location_vague")
        dispatcher.utter_message(
            response="utter_ask_emergency_type_only" if has_place else "utter_ask_emergency_type"
        )
        return [*events, SlotSet("type_questions", float(asked + 1))]


class ActionSubmitReport(Action):
    """The report is complete. A closing "thank you" only when no guidance is under way (in the
    middle of CPR it reads like the end of the conversation): then a short "noted", and the
    check question that waits for its answer is asked again."""

    def name(self) -> str:
        return "action_submit_report"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        ticket = await context.open_ticket(tracker)
        if ticket is None:
            return []
        state = tracker.get_slot("guidance") or {}
        if state.get("next") or state.get("at"):
            dispatcher.utter_message(response="utter_ticket_updated", ticket_number=ticket.number)
            if state.get("at") and tracker.get_slot("guidance_waiting"):
                repeat_question(dispatcher, tracker, state)
            return []
        if tracker.get_slot("report_confirmed"):
            return []
        dispatcher.utter_message(response="utter_report_complete", ticket_number=ticket.number)
        return [SlotSet("report_confirmed", True)]


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
        kind = tracker.get_slot("emergency_type")
        if kind and kind != ticket.emergency_type:
            await reconcile_type(dispatcher, tracker, ticket, str(kind))
            return []
        await asyncio.to_thread(context.desk().update, ticket.id, context.details(tracker))
        dispatcher.utter_message(response="utter_ticket_updated", ticket_number=ticket.number)
        return []


# "tidak ada yang luka", "ga ada korban", "nobody is hurt", "semua selamat": no one is hurt. Read
# on normalised words (slang expanded: "ga", "gak", "nggak" are "tidak").
_NO_ONE_HURT = re.compile(
    r"\b(?:tidak|tak|no|nobody|none|not|nothing)\b(?: \w+){0,3} (?:luka|terluka|korban|cedera|hurt|"
    r"injured|injury|injuries|berdarah|bleeding)\b|\b(?:semua|semuanya|all|everyone)\b(?: \w+){0,2} "
    r"(?:selamat|aman|safe|fine|ok)\b")
# "bukan cuma luka, dia pingsan", "no one hurt but grandma fainted": more follows, the no is not all.
_BUT = re.compile(r"\b(?:tapi|tetapi|namun|kecuali|but|except)\b")


def denies_injury(text: str, cues: list[Any]) -> bool:
    """The message says no one is hurt, and names no injury besides."""
    words = normalise(text).text
    return bool(_NO_ONE_HURT.search(words)) and not cues and not _BUT.search(words)
