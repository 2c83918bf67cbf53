"""Guidance while help is coming: protocol steps, branching check questions, reminders.

The ticket always comes first: guidance starts from the slot `guidance` that the
extraction action sets, and is said by the next question-asking action or by
`action_guide`, after the ticket was opened or updated in the same turn.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import context
from bot.delivery import reminders
from bot.dialogue import guidance
from bot.services import current
from nlu.normalise import normalise

DomainDict = dict[str, Any]
# How long CPR encouragement goes on if nobody says help has arrived (seconds).
REMINDER_WINDOW_SECONDS = 15 * 60
YES_NO_BUTTONS = {
    "id": [{"title": "Ya", "payload": "/affirm"}, {"title": "Tidak", "payload": "/deny"}],
    "en": [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
}


def start_events(topic: str, urgent: bool) -> list[dict[str, Any]]:
    """Slots that make `topic` the protocol to say next; `urgent` (a critical cue) lets its
    check questions go before the question for the place."""
    protocol = guidance.load_protocols()[topic]
    state = {"topic": topic, "next": protocol.steps[0].id, "at": None, "urgent": urgent}
    events = [
        SlotSet("guidance", state),
        SlotSet("guidance_waiting", False),
    ]
    if protocol.quiet:
        events.append(SlotSet("quiet_mode", True))
    return events


async def say_guidance(
    dispatcher: CollectingDispatcher, tracker: Tracker, answer: bool | None = None,
    questions: bool = True,
) -> list[dict[str, Any]]:
    """Say the protocol from where it stands (after a YES/NO `answer` if one was awaited);
    without `questions`, stop before the next check question and keep it for later."""
    state = tracker.get_slot("guidance")
    if not state:
        return []
    protocol = guidance.load_protocols()[state["topic"]]
    step_id = state.get("next")
    if answer is not None and state.get("at"):
        asked = protocol.step(state["at"])
        step_id = asked.yes if answer else asked.no
    if not step_id:
        return []
    if step_id.startswith("protocol:"):
        protocol = guidance.load_protocols()[step_id.split(":", 1)[1]]
        step_id = protocol.steps[0].id
    lang = context.language(tracker)
    channel = tracker.get_latest_input_channel() or ""
    return await _say_from(dispatcher, tracker, protocol, step_id, lang, channel, questions)


async def _say_from(
    dispatcher: CollectingDispatcher, tracker: Tracker, protocol: guidance.Protocol, step_id: str,
    lang: str, channel: str, questions: bool,
) -> list[dict[str, Any]]:
    """Say one turn of the protocol from `step_id`, as `guidance.render` lays it out; questions
    the reporter's own words already answer are skipped."""
    facts = reporter_words(tracker)
    done = guidance.turn(protocol, step_id, facts)
    if step_id == protocol.steps[0].id or done.protocol is not protocol:
        await _schedule_reminders(tracker, done.protocol, lang)
    messages = guidance.render(protocol, lang, channel, start=step_id, facts=facts)
    question, topic = done.question, done.protocol.topic
    if question is None:
        for text in messages:
            dispatcher.utter_message(text=text)
        state = {"topic": topic, "next": None, "at": None}
        return [SlotSet("guidance", state), SlotSet("guidance_waiting", False)]
    for text in messages[:-1]:
        dispatcher.utter_message(text=text)
    if not questions:
        return [SlotSet("guidance", {"topic": topic, "next": question.id, "at": None})]
    dispatcher.utter_message(text=messages[-1], buttons=YES_NO_BUTTONS[lang])
    state = {"topic": topic, "next": None, "at": question.id}
    # The form's own question waits until this one is answered.
    return [SlotSet("guidance", state), SlotSet("guidance_waiting", True),
            SlotSet("requested_slot", None)]


def repeat_question(dispatcher: CollectingDispatcher, tracker: Tracker, state: dict[str, Any]) -> None:
    """Ask again the check question that still waits for its YES or NO."""
    protocol = guidance.load_protocols()[state["topic"]]
    lang = context.language(tracker)
    dispatcher.utter_message(text=protocol.step(state["at"]).text.get(lang), buttons=YES_NO_BUTTONS[lang])


def reporter_words(tracker: Tracker) -> str:
    """Everything the reporter wrote this session, normalised: what answers a question before
    it is asked."""
    texts: list[str] = []
    for event in tracker.events:
        if event.get("event") == "session_started":
            texts = []
        elif event.get("event") == "user":
            texts.append(str(event.get("text") or ""))
    return " ".join(normalise(text).text for text in texts if text)


async def _schedule_reminders(tracker: Tracker, protocol: guidance.Protocol, lang: str) -> None:
    db = current().db
    conversation = context.conversation_id(tracker)
    await asyncio.to_thread(reminders.cancel, db, conversation)
    if not protocol.repeat:
        return
    every = float(protocol.repeat.every_seconds)
    text = protocol.repeat.say.get(lang)
    count = int(REMINDER_WINDOW_SECONDS // every)
    plan = [(every * (i + 1), text) for i in range(count)]
    await asyncio.to_thread(reminders.schedule, db, conversation, plan, protocol.topic)


class ActionGuide(Action):
    """Continues the protocol: after a check answer, or when one is waiting to start."""

    def name(self) -> str:
        return "action_guide"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        answer = None
        if tracker.get_slot("guidance_waiting"):
            intent = (tracker.latest_message or {}).get("intent", {}).get("name")
            if intent not in {"affirm", "deny"}:
                return []
            answer = intent == "affirm"
        return await say_guidance(dispatcher, tracker, answer)


class _AskAfterGuidance(Action, ABC):
    """Asks a report question, after any guidance waiting to be said."""

    @property
    @abstractmethod
    def slot(self) -> str:
        """The slot this action asks for."""

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        state = tracker.get_slot("guidance") or {}
        if state.get("next") and not tracker.get_slot("guidance_waiting"):
            # Where it is comes before a protocol's check questions, unless a life is at
            # stake right now (a critical cue started the protocol).
            questions = self.slot != "location" or bool(state.get("urgent"))
            events = await say_guidance(dispatcher, tracker, questions=questions)
        waiting = any(e.get("name") == "guidance_waiting" and e.get("value") for e in events)
        if waiting or (not events and tracker.get_slot("guidance_waiting")):
            return [*events, SlotSet("requested_slot", None)]
        vague = tracker.get_slot("location_vague") if self.slot == "location" else None
        if vague and tracker.get_slot("location_detail_asked"):
            # Asked once for a landmark already: the vague place stands, the form goes on.
            return [*events, SlotSet("location", vague), FollowupAction("report_form")]
        if vague:
            dispatcher.utter_message(response="utter_ask_location_detail", place=vague)
            return [*events, SlotSet("location_detail_asked", True)]
        dispatcher.utter_message(response=f"utter_ask_{self.slot}")
        return events


class ActionAskLocation(_AskAfterGuidance):
    """Where is it?"""

    slot = "location"


class ActionAskPeopleInjured(_AskAfterGuidance):
    """Is anyone hurt?"""

    slot = "people_injured"
