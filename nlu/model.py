"""The trained NLU: train from data/ and config.yml, save with skops, parse messages."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import skops.io as sio
import yaml
from sklearn.pipeline import Pipeline

from nlu import crf
from nlu import cues as cue_lexicon
from nlu import entities as entity_rules
from nlu.classifier import build_classifier, ranking
from nlu.language import identify
from nlu.normalise import Normalised, normalise
from nlu.training_data import Example, data_files, fingerprint, load_dir
from nlu.types import Entity, Label, Location, ParseResult

log = logging.getLogger(__name__)

# Bump when a change of code changes what a trained model means.
PIPELINE_VERSION = "1"
# Intents that would dismiss a message, or lose its emergency type (a place alone): the
# safety bias overrides them when an emergency is likely enough.
DISMISSIVE_INTENTS = frozenset(
    {"non_emergency", "prank_or_test", "out_of_scope", "greet", "thanks", "provide_location"}
)
# Intents after which an emergency type is worth reporting (a type may ride on details).
TYPED_INTENTS = frozenset({"report_emergency", "provide_info"})


# Rasa's button payload syntax: "/affirm". Only intents of the taxonomy are accepted.
_INTENT_PAYLOAD = re.compile(
    r"/(report_emergency|non_emergency|prank_or_test|greet|ask_status|cancel_report|"
    r"provide_location|provide_info|affirm|deny|thanks|out_of_scope)"
)


class ModelMissing(FileNotFoundError):
    """No model was trained from the current data and config."""


@dataclass(frozen=True)
class NLUConfig:
    """The parts of config.yml the pipeline reads."""

    featurizers: list[dict[str, Any]]
    intent_options: dict[str, Any]
    type_options: dict[str, Any]
    safety_threshold: float

    @classmethod
    def load(cls, path: Path) -> NLUConfig:
        """Read the pipeline section of config.yml."""
        pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))["pipeline"]
        by_name: dict[str, dict[str, Any]] = {}
        featurizers = []
        for component in pipeline:
            if component["name"] == "CountVectorsFeaturizer":
                featurizers.append(component)
            by_name.setdefault(component["name"], component)
        return cls(
            featurizers=featurizers,
            intent_options=by_name.get("LogisticRegressionClassifier", {}),
            type_options=by_name.get("nlu.classifier.EmergencyTypeClassifier", {}),
            safety_threshold=float(
                by_name.get("nlu.safety.EmergencySafetyBias", {}).get("threshold", 0.25)
            ),
        )


def model_name(project_dir: Path) -> str:
    """File name of the model for the current data and config."""
    paths = [*data_files(project_dir / "data"), project_dir / "config.yml"]
    return f"nlu-{fingerprint(paths, PIPELINE_VERSION)}.skops"


def train(project_dir: Path, models_dir: Path) -> Path:
    """Train on data/nlu/*.yml with config.yml and save the model; returns its path."""
    config = NLUConfig.load(project_dir / "config.yml")
    examples = load_dir(project_dir / "data")
    if not examples:
        raise ValueError(f"no training examples under {project_dir / 'data' / 'nlu'}")
    models_dir.mkdir(parents=True, exist_ok=True)
    path = models_dir / model_name(project_dir)
    bundle = fit(config, examples, path.with_suffix(".crfsuite"))
    # The skops file is written last: its presence says the whole model is there.
    sio.dump(bundle, path)
    return path


def fit(config: NLUConfig, examples: list[Example], crf_path: Path) -> dict[str, Any]:
    """Fit the intent and type classifiers (returned) and the location CRF (written to crf_path)."""
    texts = [normalise(e.text).text for e in examples]
    intent_model = build_classifier(config.featurizers, config.intent_options)
    intent_model.fit(texts, [e.intent for e in examples])
    typed = [(t, e.emergency_type) for t, e in zip(texts, examples, strict=True) if e.emergency_type]
    type_model = build_classifier(config.featurizers, config.type_options)
    type_model.fit([t for t, _ in typed], [label for _, label in typed])
    crf.train(examples, crf_path)
    return {"intent": intent_model, "type": type_model, "threshold": config.safety_threshold}


def load_model(project_dir: Path, models_dir: Path) -> dict[str, Any]:
    """Load the model for the current data; refuse a stale one or unexpected types."""
    path = models_dir / model_name(project_dir)
    if not path.exists():
        raise ModelMissing(
            f"no NLU model for the current data and config ({path.name}): run `sigap train`"
        )
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
    if unexpected:
        raise ValueError(f"{path.name} holds unexpected types {unexpected}; retrain it")
    bundle: dict[str, Any] = sio.load(path, trusted=untrusted)
    bundle["locations"] = crf.CrfLocationExtractor(path.with_suffix(".crfsuite"))
    return bundle


class NLU:
    """Parses a message into the parse contract of DESIGN.md."""

    def __init__(self, bundle: dict[str, Any], resolver: Any = None) -> None:
        self.intent_model: Pipeline = bundle["intent"]
        self.type_model: Pipeline = bundle["type"]
        self.threshold = float(bundle.get("threshold", 0.25))
        self.locations: crf.CrfLocationExtractor | None = bundle.get("locations")
        # resolver(text, lat, lon) -> Location | None; the gazetteer/geocoder, injected.
        self.resolver = resolver

    @classmethod
    def load(cls, project_dir: Path, models_dir: Path, resolver: Any = None) -> NLU:
        """The NLU of the current model."""
        started = time.perf_counter()
        nlu = cls(load_model(project_dir, models_dir), resolver)
        log.info("NLU model loaded in %.0f ms", (time.perf_counter() - started) * 1000)
        return nlu

    def parse(self, text: str, gps: tuple[float, float] | None = None) -> ParseResult:
        """Language, intent, emergency type, entities, critical cues and location."""
        if _INTENT_PAYLOAD.fullmatch(text.strip()):
            return self._payload(text.strip())
        normalised = normalise(text)
        if not normalised.tokens:
            return _empty(text)
        intents = ranking(self.intent_model, normalised.text)
        types = ranking(self.type_model, normalised.text)
        cues = cue_lexicon.detect(normalised)
        intent = _safety_bias(intents, cues, self.threshold)
        emergency_type = None
        if intent.name in TYPED_INTENTS or cues:
            emergency_type = Label(*types[0])
        entities = self._entities(normalised)
        place = next((e.value for e in entities if e.entity == "location"), None)
        location = self._locate(place, gps)
        return ParseResult(
            text=text,
            language=identify(normalised),
            intent=intent,
            intent_ranking=[Label(n, p) for n, p in intents[:10]],
            emergency_type=emergency_type,
            entities=entities,
            location=location,
            cues=cues,
        )

    def _entities(self, normalised: Normalised) -> list[Entity]:
        """CRF location spans; the rule-based span only when the CRF finds none."""
        found = entity_rules.extract(normalised)
        learned = self.locations.extract(normalised) if self.locations else []
        if learned:
            found = [learned[0]] + [e for e in found if e.entity != "location"]
        return found

    def _locate(self, place: str | None, gps: tuple[float, float] | None) -> Location | None:
        if self.resolver is None:
            return Location(text=place) if place else None
        lat, lon = gps if gps else (None, None)
        if place is None and gps is None:
            return None
        result: Location | None = self.resolver(place, lat, lon)
        return result


    def _payload(self, text: str) -> ParseResult:
        """Rasa's `/intent` payload (a tapped button, a channel command): no guessing."""
        label = Label(text[1:], 1.0)
        return ParseResult(text, "id", label, [label], None, [], None, [])


def _safety_bias(intents: list[tuple[str, float]], cues: list[str], threshold: float) -> Label:
    """A critical cue, or a real chance of an emergency, is never dismissed."""
    name, confidence = intents[0]
    emergency = dict(intents).get("report_emergency", 0.0)
    if name in DISMISSIVE_INTENTS and (cues or emergency >= threshold):
        return Label("report_emergency", emergency)
    return Label(name, confidence)


def _empty(text: str) -> ParseResult:
    label = Label("out_of_scope", 1.0)
    return ParseResult(text, "id", label, [label], None, [], None, [])
