"""A conversation's dialogue state: Rasa tracker events, slots and the active loop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

# Keep the stored tracker small: a report conversation is a few dozen events.
MAX_STORED_EVENTS = 300


@dataclass
class DialogueState:
    """Events and the state they imply; stored as JSON on the conversation row."""

    slots: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    active_loop: str | None = None
    latest_message: dict[str, Any] = field(default_factory=dict)
    latest_action_name: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any], initial_slots: dict[str, Any]) -> DialogueState:
        """Restore a stored state (an empty dict is a new conversation)."""
        slots = dict(initial_slots)
        slots.update(data.get("slots", {}))
        return cls(
            slots=slots,
            events=list(data.get("events", [])),
            active_loop=data.get("active_loop"),
            latest_message=dict(data.get("latest_message", {})),
            latest_action_name=data.get("latest_action_name"),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON stored on the conversation row."""
        return {
            "slots": self.slots,
            "events": self.events[-MAX_STORED_EVENTS:],
            "active_loop": self.active_loop,
            "latest_message": self.latest_message,
            "latest_action_name": self.latest_action_name,
        }

    def last_event_time(self) -> float | None:
        """Timestamp of the newest event, if any."""
        for event in reversed(self.events):
            if event.get("timestamp"):
                return float(event["timestamp"])
        return None

    def apply(self, event: dict[str, Any]) -> None:
        """Append an event and update the state it changes."""
        event = dict(event)
        event["timestamp"] = event.get("timestamp") or time.time()
        kind = event.get("event")
        if kind == "slot":
            self.slots[event["name"]] = event.get("value")
        elif kind == "active_loop":
            self.active_loop = event.get("name")
        elif kind == "action":
            self.latest_action_name = event.get("name")
        elif kind == "user":
            parse = dict(event.get("parse_data", {}))
            self.latest_message = {**parse, "metadata": event.get("metadata", {})}
            # The ranking of every intent is the latest message's alone (nothing reads an older
            # one): the stored tracker, rewritten every turn, is a fifth smaller after four turns.
            parse.pop("intent_ranking", None)
            event["parse_data"] = parse
        self.events.append(event)

    def sdk_tracker(self, sender_id: str) -> dict[str, Any]:
        """The tracker JSON a Rasa server posts to an action server."""
        return {
            "sender_id": sender_id,
            "slots": dict(self.slots),
            "latest_message": self.latest_message,
            "events": list(self.events),
            "paused": False,
            "followup_action": None,
            "active_loop": {"name": self.active_loop} if self.active_loop else {},
            "latest_action_name": self.latest_action_name,
        }
