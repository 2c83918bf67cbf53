"""The 112 centres one deployment serves, from regions.yml: which centre a place belongs to, and
what each centre changes (agency names and numbers, routes, redirect texts); the topics of
non-emergencies, the offices that take them and the answers to questions about 112."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Text = dict[str, str]  # {"id": ..., "en": ...}


class RegionsError(ValueError):
    """regions.yml is incomplete or names a default centre it does not define."""


@dataclass(frozen=True)
class Centre:
    """One 112 centre: its code, name, the region codes it covers and its own content."""

    code: str
    name: str
    regencies: tuple[str, ...]
    agencies: dict[str, Text] = field(default_factory=dict)
    routes: dict[str, list[str]] = field(default_factory=dict)
    redirects: dict[str, Text] = field(default_factory=dict)
    # By topic: the office a non-emergency goes to ("default": any other), an answer about 112.
    offices: dict[str, Text] = field(default_factory=dict)
    faq: dict[str, Text] = field(default_factory=dict)

    def covers(self, code: str) -> bool:
        """Whether a region code lies in this centre's area."""
        return any(code == area or code.startswith(area + ".") for area in self.regencies)


@dataclass(frozen=True)
class Topic:
    """A non-emergency topic or a question about 112: the words that name it, and its name for
    the reporter (a topic) or its answer (a question), {"id": ..., "en": ...}."""

    key: str
    words: tuple[str, ...]
    text: Text


@dataclass(frozen=True)
class Regions:
    """Every centre, and the one that takes what lies in no centre's area."""

    centres: dict[str, Centre]
    default: str
    topics: tuple[Topic, ...] = ()
    offices: dict[str, Text] = field(default_factory=dict)
    faq: tuple[Topic, ...] = ()

    @classmethod
    def load(cls, path: Path) -> Regions:
        """Read and check a regions file."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        centres = {}
        for spec in raw.get("centres") or []:
            if not {"code", "name", "regencies"} <= set(spec):
                raise RegionsError(f"{path}: a centre needs code, name and regencies: {spec}")
            centre = Centre(str(spec["code"]), str(spec["name"]), tuple(str(c) for c in spec["regencies"]),
                            dict(spec.get("agencies") or {}), dict(spec.get("routes") or {}),
                            dict(spec.get("redirects") or {}), dict(spec.get("offices") or {}),
                            dict(spec.get("faq") or {}))
            centres[centre.code] = centre
        default = str(raw.get("default") or "")
        if default not in centres:
            raise RegionsError(f"{path}: default centre {default!r} is not one of {sorted(centres)}")
        offices = dict(raw.get("offices") or {})
        if "id" not in offices.get("default", {}):
            raise RegionsError(f"{path}: `offices` needs a `default` office (id and en) for non-emergencies")
        return cls(centres, default, _topics(path, raw.get("non_emergency_topics")), offices,
                   _topics(path, raw.get("faq")))

    def centre_for(self, location: dict[str, Any] | None) -> Centre:
        """The centre whose area holds a resolved location (its gazetteer code), else the default."""
        code = ((location or {}).get("admin") or {}).get("code")
        if code:
            for centre in self.centres.values():
                if centre.covers(str(code)):
                    return centre
        return self.centres[self.default]

    def code(self, code: str | None) -> str:
        """A region code as stored on a conversation ("" until a ticket places it): the centre's."""
        return self.centre(code).code

    def centre(self, code: str | None) -> Centre:
        """A centre by code (the default for None or an unknown code)."""
        return self.centres.get(code or "", self.centres[self.default])


def _topics(path: Path, raw: Any) -> tuple[Topic, ...]:
    topics = []
    for key, spec in (raw or {}).items():
        if not spec.get("words") or "id" not in spec:
            raise RegionsError(f"{path}: topic {key!r} needs words and an id text")
        topics.append(Topic(str(key), tuple(str(w) for w in spec["words"]),
                            {"id": str(spec["id"]), "en": str(spec.get("en") or spec["id"])}))
    return tuple(topics)
