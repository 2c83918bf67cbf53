"""Typed values that leave the NLU: a parse result and a resolved location."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

LocationSource = Literal["gps", "geocoder", "gazetteer", "text"]


@dataclass(frozen=True)
class AdminArea:
    """Administrative area names; any level may be unknown."""

    province: str | None = None
    regency: str | None = None
    district: str | None = None
    village: str | None = None
    # The finest region code known (Kepmendagri, as in nlu/data/regions.csv: "33.24.05" a
    # kecamatan of "33.24"): what decides which 112 centre the place belongs to.
    code: str | None = None


@dataclass(frozen=True)
class Location:
    """Where an incident is: the reporter's words, a point if known, and its area.

    `source` says where the point came from: `gps` (a pin), `geocoder` (Nominatim),
    `gazetteer` (a region centroid: as precise as the region, no more) or `text`
    (words only, no point). `precision` names the finest level the point stands for.
    """

    text: str | None
    lat: float | None = None
    lon: float | None = None
    source: LocationSource = "text"
    admin: AdminArea = field(default_factory=AdminArea)
    precision: Literal["point", "village", "district", "regency", "province", "none"] = "none"

    def to_dict(self) -> dict[str, Any]:
        """The parse-contract shape of this location."""
        return asdict(self)


@dataclass(frozen=True)
class Entity:
    """An entity span; `start`/`end` index the original text."""

    entity: str
    value: str
    start: int
    end: int
    confidence_entity: float
    extractor: str

    def to_dict(self) -> dict[str, Any]:
        """Rasa's entity dict."""
        return {"entity": self.entity, "value": self.value, "start": self.start, "end": self.end,
                "confidence_entity": self.confidence_entity, "extractor": self.extractor}


@dataclass(frozen=True)
class Label:
    """A predicted label and its confidence."""

    name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Rasa's {name, confidence} (written out: `asdict` copies deeply, once per label a turn)."""
        return {"name": self.name, "confidence": self.confidence}


@dataclass(frozen=True)
class ParseResult:
    """One parsed message, in Rasa's /model/parse shape plus `language`,
    `emergency_type`, `location` and `cues` (critical cues such as `not_breathing`)."""

    text: str
    language: str
    intent: Label
    intent_ranking: list[Label]
    emergency_type: Label | None
    entities: list[Entity]
    location: Location | None
    cues: list[str] = field(default_factory=list)
    # Hazard-lexicon hits ({type, term, start, end}), a call for help, a hazard word inside a
    # joke (ask, and tell an operator), a correction ("bukan kebakaran, ...") and "also".
    hazards: list[dict[str, Any]] = field(default_factory=list)
    # Only one language's words were seen: even "help" alone says English.
    language_certain: bool = False
    help_call: bool = False
    needs_check: bool = False
    corrects: bool = False
    also: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready parse contract."""
        return {
            "text": self.text,
            "language": self.language,
            "intent": self.intent.to_dict(),
            "intent_ranking": [label.to_dict() for label in self.intent_ranking],
            "emergency_type": self.emergency_type.to_dict() if self.emergency_type else None,
            "entities": [e.to_dict() for e in self.entities],
            "location": self.location.to_dict() if self.location else None,
            "cues": list(self.cues),
            "language_certain": self.language_certain,
            "hazards": list(self.hazards),
            "help_call": self.help_call,
            "needs_check": self.needs_check,
            "corrects": self.corrects,
            "also": self.also,
        }
