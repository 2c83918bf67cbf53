"""Priority and the deadline for the first movement, from priority.yml (content, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import yaml

DEFAULT_LEVEL = "high"


class PriorityError(ValueError):
    """priority.yml is incomplete."""


@dataclass(frozen=True)
class Priorities:
    """Levels (rank, deadline), each type's level, and the cues that make a report critical."""

    ranks: dict[str, int]
    deadlines: dict[str, timedelta]
    types: dict[str, str]
    critical_cues: frozenset[str]

    @classmethod
    def load(cls, path: Path) -> Priorities:
        """Read and check a priority file."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        levels = raw.get("levels") or {}
        if not levels or any(set(spec) != {"rank", "deadline_minutes"} for spec in levels.values()):
            raise PriorityError(f"{path}: every level needs rank and deadline_minutes")
        types = {str(k): str(v) for k, v in (raw.get("types") or {}).items()}
        unknown = sorted(set(types.values()) - set(levels))
        if unknown or DEFAULT_LEVEL not in levels:
            raise PriorityError(f"{path}: unknown levels {unknown} (and `{DEFAULT_LEVEL}` is needed)")
        return cls(
            ranks={name: int(spec["rank"]) for name, spec in levels.items()},
            deadlines={name: timedelta(minutes=float(spec["deadline_minutes"]))
                       for name, spec in levels.items()},
            types=types,
            critical_cues=frozenset(raw.get("critical_cues") or ()),
        )

    @property
    def most_urgent(self) -> str:
        """The level of rank 1."""
        return min(self.ranks, key=self.ranks.__getitem__)

    def of(self, emergency_type: str, cues: list[str] | tuple[str, ...] = ()) -> str:
        """A report's level: the most urgent when a critical cue is present, else its type's."""
        if self.critical_cues & set(cues):
            return self.most_urgent
        return self.types.get(emergency_type, DEFAULT_LEVEL)

    def higher(self, *levels: str) -> str:
        """The most urgent of `levels` (an incident is as urgent as its most urgent report)."""
        return min(levels, key=lambda level: self.ranks.get(level, 99))

    def deadline(self, level: str) -> timedelta:
        """How long a ticket of this level may wait for its first movement."""
        return self.deadlines.get(level, self.deadlines[DEFAULT_LEVEL])
