"""The 112 centres one deployment serves, from regions.yml: which centre a place belongs to, and
what each centre changes (agency names and numbers, routes, redirect texts)."""

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
    faq: list[dict[str, Any]] = field(default_factory=list)

    def covers(self, code: str) -> bool:
        """Whether a region code lies in this centre's area."""
        return any(code == area or code.startswith(area + ".") for area in self.regencies)


@dataclass(frozen=True)
class Regions:
    """Every centre, and the one that takes what lies in no centre's area."""

    centres: dict[str, Centre]
    default: str

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
                            dict(spec.get("redirects") or {}), list(spec.get("faq") or []))
            centres[centre.code] = centre
        default = str(raw.get("default") or "")
        if default not in centres:
            raise RegionsError(f"{path}: default centre {default!r} is not one of {sorted(centres)}")
        return cls(centres, default)

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
