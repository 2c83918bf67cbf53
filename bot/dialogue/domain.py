"""The Rasa domain (domain.yml) as typed values the embedded engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class DomainError(ValueError):
    """domain.yml is missing something the engine needs."""


@dataclass(frozen=True)
class SlotMapping:
    """One way a slot is filled (Rasa's slot mapping)."""

    type: str
    entity: str | None = None
    intent: list[str] = field(default_factory=list)
    not_intent: list[str] = field(default_factory=list)
    value: Any = None
    action: str | None = None
    conditions: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    """A slot and its mappings."""

    name: str
    type: str
    initial_value: Any
    mappings: list[SlotMapping]


@dataclass(frozen=True)
class Domain:
    """Intents, slots, forms, responses and session settings."""

    raw: dict[str, Any]
    intents: list[str]
    slots: dict[str, Slot]
    forms: dict[str, list[str]]
    responses: dict[str, list[dict[str, Any]]]
    actions: list[str]
    session_expiration_minutes: float

    @classmethod
    def load(cls, path: Path) -> Domain:
        """Read and check a domain.yml."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or str(raw.get("version")) != "3.1":
            raise DomainError(f"{path}: expected a Rasa domain with version '3.1'")
        slots = {name: _slot(name, spec) for name, spec in (raw.get("slots") or {}).items()}
        forms = {
            name: list(spec.get("required_slots", []))
            for name, spec in (raw.get("forms") or {}).items()
        }
        for form, required in forms.items():
            missing = [s for s in required if s not in slots]
            if missing:
                raise DomainError(f"form {form} requires undeclared slots {missing}")
        session = raw.get("session_config") or {}
        return cls(
            raw=raw,
            intents=[_name(i) for i in raw.get("intents", [])],
            slots=slots,
            forms=forms,
            responses=raw.get("responses") or {},
            actions=list(raw.get("actions") or []),
            session_expiration_minutes=float(session.get("session_expiration_time", 60)),
        )

    def initial_slots(self) -> dict[str, Any]:
        """Every slot at its initial value, plus Rasa's `requested_slot`."""
        values = {name: slot.initial_value for name, slot in self.slots.items()}
        values["requested_slot"] = None
        return values

    def sdk_dict(self) -> dict[str, Any]:
        """The domain as rasa-sdk receives it from a Rasa server."""
        return self.raw


def _name(intent: str | dict[str, Any]) -> str:
    return intent if isinstance(intent, str) else next(iter(intent))


def _slot(name: str, spec: dict[str, Any]) -> Slot:
    mappings = [
        SlotMapping(
            type=m["type"],
            entity=m.get("entity"),
            intent=_as_list(m.get("intent")),
            not_intent=_as_list(m.get("not_intent")),
            value=m.get("value"),
            action=m.get("action"),
            conditions=list(m.get("conditions") or []),
        )
        for m in spec.get("mappings", [])
    ]
    return Slot(name, spec.get("type", "any"), spec.get("initial_value"), mappings)


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
