"""Dialogue rules (data/rules.yml, Rasa's rule format) as the engine reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RulesError(ValueError):
    """rules.yml uses a step the embedded engine does not support."""


@dataclass(frozen=True)
class Step:
    """An action to run, or a change of the active loop (`loop` set, `action` None)."""

    action: str | None = None
    loop: str | None = None


@dataclass(frozen=True)
class Rule:
    """A rule: conditions, the intent that triggers it and the steps that follow."""

    name: str
    intent: str | None
    active_loop: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    def applies(self, intent: str, active_loop: str | None, slots: dict[str, Any]) -> bool:
        """Whether this rule fires for that intent in that state."""
        if self.intent != intent:
            return False
        if self.active_loop is not None and self.active_loop != active_loop:
            return False
        return all(slots.get(name) == value for name, value in self.slots.items())

    @property
    def specificity(self) -> int:
        """More conditions win, as in Rasa's RulePolicy."""
        return (self.active_loop is not None) + len(self.slots)


@dataclass(frozen=True)
class Rules:
    """Intent rules and, per form, the actions to run once it completes."""

    intent_rules: list[Rule]
    on_form_complete: dict[str, list[str]]

    @classmethod
    def load(cls, path: Path) -> Rules:
        """Read a rules.yml."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        intent_rules: list[Rule] = []
        on_complete: dict[str, list[str]] = {}
        for spec in raw.get("rules", []):
            rule = _rule(spec)
            if rule.intent is None:
                form, actions = _completion(rule)
                on_complete[form] = actions
            else:
                intent_rules.append(rule)
        return cls(intent_rules, on_complete)

    def match(self, intent: str, active_loop: str | None, slots: dict[str, Any]) -> Rule | None:
        """The most specific rule for this intent and state, if any."""
        fitting = [r for r in self.intent_rules if r.applies(intent, active_loop, slots)]
        return max(fitting, key=lambda r: r.specificity, default=None)


def _rule(spec: dict[str, Any]) -> Rule:
    active_loop = None
    slots: dict[str, Any] = {}
    for condition in spec.get("condition", []) or []:
        if "active_loop" in condition:
            active_loop = condition["active_loop"]
        for item in condition.get("slot_was_set", []) or []:
            slots.update(item)
    intent = None
    steps: list[Step] = []
    for step in spec.get("steps", []):
        if "intent" in step:
            if steps or intent:
                raise RulesError(f"rule {spec.get('rule')!r}: one intent, first")
            intent = step["intent"]
        elif "action" in step:
            steps.append(Step(action=step["action"]))
        elif "active_loop" in step:
            steps.append(Step(loop=step["active_loop"] or ""))
        elif "slot_was_set" not in step:
            raise RulesError(f"rule {spec.get('rule')!r}: unsupported step {step}")
    return Rule(str(spec.get("rule")), intent, active_loop, slots, steps)


def _completion(rule: Rule) -> tuple[str, list[str]]:
    # The Rasa idiom: condition active_loop F; steps: action F, active_loop null, actions...
    form = rule.active_loop
    if form is None or len(rule.steps) < 2 or rule.steps[0].action != form:
        raise RulesError(f"rule {rule.name!r}: a rule without intent must complete a form")
    if rule.steps[1].loop != "":
        raise RulesError(f"rule {rule.name!r}: expected 'active_loop: null' after the form")
    return form, [s.action for s in rule.steps[2:] if s.action]
