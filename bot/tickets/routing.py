"""Routing of tickets to agencies, read from routing.yml (content, not code)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# A ticket whose type is not known yet, and where it goes meanwhile (the centre's operators).
UNKNOWN_TYPE = "unknown"
DESK = "desk"


class RoutingError(ValueError):
    """routing.yml names an agency it does not define, or misses an emergency type."""


@dataclass(frozen=True)
class Routing:
    """Emergency type (and critical cues) -> agencies, with names to tell the reporter."""

    names: dict[str, dict[str, str]]
    routes: dict[str, list[str]]
    cue_agencies: dict[str, list[str]]
    type_names: dict[str, dict[str, str]]

    @classmethod
    def load(cls, path: Path) -> Routing:
        """Read and check a routing file."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        routing = cls(
            names=raw["agencies"],
            routes={k: list(v) for k, v in raw["routes"].items()},
            cue_agencies={k: list(v) for k, v in (raw.get("cue_agencies") or {}).items()},
            type_names=dict(raw.get("type_names") or {}),
        )
        for agencies in [*routing.routes.values(), *routing.cue_agencies.values()]:
            unknown = set(agencies) - set(routing.names)
            if unknown:
                raise RoutingError(f"{path}: unknown agencies {sorted(unknown)}")
        unnamed = set(routing.routes) - set(routing.type_names)
        if unnamed:
            raise RoutingError(f"{path}: type_names misses {sorted(unnamed)}")
        return routing

    def agencies_for(self, emergency_type: str, cues: list[str] | tuple[str, ...] = (),
                     routes: dict[str, list[str]] | None = None) -> list[str]:
        """Agencies for a type (a centre's own `routes` first) plus those its critical cues add;
        an unknown type goes to the 112 desk until a cue or the type names an agency."""
        chosen = (routes or {}).get(emergency_type) or self.routes.get(emergency_type)
        agencies = list(chosen or self.routes["other_disaster"])
        for cue in cues:
            for agency in self.cue_agencies.get(cue, []):
                if agency not in agencies:
                    agencies.append(agency)
        return self.without_desk(agencies)

    @staticmethod
    def without_desk(agencies: list[str]) -> list[str]:
        """The desk stands in only while no agency is named."""
        return [a for a in agencies if a != DESK] or agencies

    def describe(self, agencies: list[str], language: str,
                 names: dict[str, dict[str, str]] | None = None) -> str:
        """Agency names for the reporter, in their language (a centre's own `names` first)."""
        def name(agency: str) -> str:
            spelled = (names or {}).get(agency) or self.names[agency]
            return spelled.get(language) or spelled["id"]

        return ", ".join(name(a) for a in agencies)

    def type_name(self, emergency_type: str | None, language: str) -> str:
        """What the reporter is told the emergency is."""
        names = self.type_names.get(emergency_type or UNKNOWN_TYPE) or self.type_names[UNKNOWN_TYPE]
        return names.get(language) or names["id"]
