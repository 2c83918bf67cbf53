"""The embedded conversation engine: slot mappings, rules, forms and rasa-sdk actions."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from rasa_sdk.executor import ActionExecutor

from bot.dialogue.domain import Domain, SlotMapping
from bot.dialogue.responses import render
from bot.dialogue.rules import Rules
from bot.dialogue.tracker import DialogueState

log = logging.getLogger(__name__)

# Intents that interrupt a form instead of answering its question.
INTERRUPTING_INTENTS = frozenset({"ask_status", "cancel_report"})
# Slots a new session keeps: the reporter's language does not change with time.
SESSION_CARRIED_SLOTS = ("user_language",)
# A reporter who sends a stop word (hiding from an attacker) gets no more messages until
# they write again; replies to a reporter in danger make no sound where the channel allows.
SILENCED_SLOT = "silenced"
QUIET_SLOT = "quiet_mode"
# Actions may chain follow-up actions; a chain longer than this is a bug.
MAX_FOLLOWUPS = 5


@dataclass(frozen=True)
class Turn:
    """One user message as the engine sees it."""

    sender_id: str
    channel: str
    text: str
    parse: dict[str, Any]
    metadata: dict[str, Any]


class Engine:
    """Runs one dialogue turn on a state; persistence and ordering belong to the caller."""

    def __init__(self, domain: Domain, rules: Rules, executor: ActionExecutor) -> None:
        self.domain = domain
        self.rules = rules
        self.executor = executor

    def new_state(self) -> DialogueState:
        """The state of a conversation that has just begun."""
        return DialogueState(slots=self.domain.initial_slots())

    async def handle(self, state: DialogueState, turn: Turn) -> list[dict[str, Any]]:
        """Apply a user message to `state` and return the bot's messages."""
        run = _TurnRun(self, state, turn)
        self._expire_session(state, turn)
        state.apply(_user_event(turn))
        await run.extract_slots()
        await run.decide()
        return run.replies

    def _expire_session(self, state: DialogueState, turn: Turn) -> None:
        last = state.last_event_time()
        limit = self.domain.session_expiration_minutes * 60
        if last is None or limit <= 0 or time.time() - last < limit:
            return
        carried = {name: state.slots.get(name) for name in SESSION_CARRIED_SLOTS}
        state.slots = self.domain.initial_slots() | carried
        state.active_loop = None
        state.apply({"event": "session_started"})
        log.info("session expired, new session for conversation %s", turn.sender_id)


def _user_event(turn: Turn) -> dict[str, Any]:
    return {
        "event": "user",
        "text": turn.text,
        "parse_data": turn.parse,
        "metadata": turn.metadata,
        "input_channel": turn.channel,
    }


class _TurnRun:
    """The work of one turn: what it set, what it says."""

    def __init__(self, engine: Engine, state: DialogueState, turn: Turn) -> None:
        self.engine = engine
        self.domain = engine.domain
        self.state = state
        self.turn = turn
        self.replies: list[dict[str, Any]] = []
        self.filled: set[str] = set()
        self.candidates: list[dict[str, Any]] = []
        self.depth = 0
        self.intent = str(turn.parse.get("intent", {}).get("name") or "out_of_scope")

    # -- slots --------------------------------------------------------------
    async def extract_slots(self) -> None:
        """Rasa's action_extract_slots: mappings first, then custom extraction actions."""
        requested = self.state.slots.get("requested_slot")
        custom_actions: list[str] = []
        for slot in self.domain.slots.values():
            for mapping in slot.mappings:
                if not self._conditions_hold(mapping, requested):
                    continue
                if mapping.type == "custom":
                    if mapping.action and mapping.action not in custom_actions:
                        custom_actions.append(mapping.action)
                    continue
                value = self._mapped_value(mapping)
                if value is not None:
                    self._set(slot.name, value, candidate=True)
                    break
        for action in custom_actions:
            await self.run_action(action, record=False, extracting=True)

    def _conditions_hold(self, mapping: SlotMapping, requested: str | None) -> bool:
        if mapping.intent and self.intent not in mapping.intent:
            return False
        if self.intent in mapping.not_intent:
            return False
        if not mapping.conditions:
            return True
        return any(
            c.get("active_loop") == self.state.active_loop
            and ("requested_slot" not in c or c["requested_slot"] == requested)
            for c in mapping.conditions
        )

    def _mapped_value(self, mapping: SlotMapping) -> Any:
        if mapping.type == "from_entity":
            for entity in self.turn.parse.get("entities", []):
                if entity.get("entity") == mapping.entity:
                    return entity.get("value")
            return None
        if mapping.type == "from_intent":
            return mapping.value
        if mapping.type == "from_text":
            return self.turn.text.strip() or None
        return None

    def _set(self, name: str, value: Any, candidate: bool = False) -> None:
        event = {"event": "slot", "name": name, "value": value}
        self.state.apply(event)
        if value is not None:
            self.filled.add(name)
        if candidate:
            self.candidates.append(event)

    # -- policy -------------------------------------------------------------
    async def decide(self) -> None:
        """Continue the active form, or follow the rule for the intent."""
        if self.state.slots.get(SILENCED_SLOT) and SILENCED_SLOT in self.filled:
            return  # the reporter asked the bot to stop writing: nothing else this turn
        form = self.state.active_loop
        if form and self.filled & set(self.domain.forms[form]) and (
            self.intent not in INTERRUPTING_INTENTS
        ):
            await self.run_form(form)
            return
        rule = self.engine.rules.match(self.intent, form, self.state.slots)
        if rule is None:
            if form:
                await self.run_form(form)
            else:
                self.utter("utter_default")
            return
        for step in rule.steps:
            if step.action:
                await self.run_step_action(step.action)
            elif step.loop == "":
                self.state.apply({"event": "active_loop", "name": None})

    async def run_step_action(self, name: str) -> None:
        """Run a form, a response or a custom action named by a rule."""
        if name in self.domain.forms:
            await self.run_form(name)
        elif name.startswith("utter_"):
            self.utter(name)
        else:
            await self.run_action(name)

    # -- forms --------------------------------------------------------------
    async def run_form(self, form: str) -> None:
        """Rasa's FormAction: activate, validate this turn's candidates, ask or complete."""
        if self.state.active_loop != form:
            self.state.apply({"event": "active_loop", "name": form})
        validator = f"validate_{form}"
        if validator in self.domain.actions:
            # Like Rasa's FormAction: this turn's slot candidates go last on the tracker,
            # where rasa-sdk's `slots_to_validate` finds them.
            candidates, self.candidates = self.candidates, []
            await self.run_action(validator, trailing=candidates)
        if self.state.active_loop != form:
            return  # the validation action ended the form
        missing = [s for s in self.domain.forms[form] if self.state.slots.get(s) is None]
        if missing:
            self._set("requested_slot", missing[0])
            await self.ask(form, missing[0])
            return
        self._set("requested_slot", None)
        self.state.apply({"event": "active_loop", "name": None})
        for action in self.engine.rules.on_form_complete.get(form, []):
            await self.run_step_action(action)

    async def ask(self, form: str, slot: str) -> None:
        """Ask for a slot, in Rasa's order: action_ask_<form>_<slot>, action_ask_<slot>,
        utter_ask_<form>_<slot>, utter_ask_<slot>."""
        for name in (f"action_ask_{form}_{slot}", f"action_ask_{slot}"):
            if name in self.domain.actions:
                await self.run_action(name)
                return
        for name in (f"utter_ask_{form}_{slot}", f"utter_ask_{slot}"):
            if name in self.domain.responses:
                self.utter(name)
                return
        log.error("domain has no question for slot %s", slot)

    # -- actions and responses ----------------------------------------------
    async def run_action(
        self,
        name: str,
        record: bool = True,
        trailing: list[dict[str, Any]] | None = None,
        extracting: bool = False,
    ) -> None:
        """Run a rasa-sdk action in-process with the payload a Rasa server would post."""
        tracker = self.state.sdk_tracker(self.turn.sender_id)
        tracker["events"] += trailing or []
        call = {
            "next_action": name,
            "sender_id": self.turn.sender_id,
            "tracker": tracker,
            "domain": self.domain.sdk_dict(),
            "version": "3.1",
        }
        result = await self.engine.executor.run(call)
        if result is None:
            return
        if record:
            self.state.apply({"event": "action", "name": name})
        followups: list[str] = []
        for event in result.events:
            if event.get("event") == "slot":
                self._set(event["name"], event.get("value"), candidate=extracting)
            elif event.get("event") == "followup":
                followups.append(str(event["name"]))
            else:
                self.state.apply(event)
        for message in result.responses:
            self._message(message)
        for followup in followups:
            self.depth += 1
            if self.depth > MAX_FOLLOWUPS:
                log.error("followup loop stopped at %s", followup)
                return
            await self.run_step_action(followup)

    def _emit(self, reply: dict[str, Any], name: str | None = None) -> None:
        """Record and queue a reply, unless the reporter silenced the bot."""
        silenced = bool(self.state.slots.get(SILENCED_SLOT))
        if self.state.slots.get(QUIET_SLOT):
            reply["custom"] = {**reply.get("custom", {}), "quiet": True}
        metadata = {"utter": name, "suppressed": silenced}
        self.state.apply({"event": "bot", "text": reply["text"], "metadata": metadata})
        if not silenced:
            self.replies.append(reply)

    def _message(self, message: dict[str, Any]) -> None:
        name = message.get("response")
        if name:
            extra = {k: v for k, v in message.items() if k not in _SDK_MESSAGE_KEYS}
            self.utter(name, extra)
        elif message.get("text"):
            reply = {"text": message["text"]}
            if message.get("buttons"):
                reply["buttons"] = message["buttons"]
            if message.get("custom"):
                reply["custom"] = message["custom"]
            self._emit(reply)

    def utter(self, name: str, extra: dict[str, Any] | None = None) -> None:
        """Add a domain response, chosen for the channel and the slots."""
        reply = render(self.domain.responses, name, self.state.slots, self.turn.channel, extra)
        self._emit(reply, name)


_SDK_MESSAGE_KEYS = frozenset(
    {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment"}
)
