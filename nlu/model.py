"""The trained NLU: train from data/ and config.yml, save with skops, parse messages."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import skops.io as sio
import yaml
from sklearn.pipeline import Pipeline

from nlu import crf, hazards
from nlu import cues as cue_lexicon
from nlu import entities as entity_rules
from nlu.classifier import Linear, build_classifier
from nlu.language import identify
from nlu.normalise import Normalised, normalise
from nlu.safety import Thresholds, triage
from nlu.training_data import Example, data_files, fingerprint, load_dir
from nlu.types import Entity, Label, Location, ParseResult

log = logging.getLogger(__name__)

# Bump when a change of code changes what a trained model means.
PIPELINE_VERSION = "3"
# Messages whose words are rarely a place: a span there needs a place word to count.
PLACELESS_INTENTS = frozenset({"greet", "thanks", "affirm", "deny", "prank_or_test", "out_of_scope",
                               "ask_status", "cancel_report"})


# Rasa's button payload syntax: "/affirm". Only intents of the taxonomy are accepted.
_INTENT_PAYLOAD = re.compile(
    r"/(report_emergency|non_emergency|prank_or_test|greet|ask_status|cancel_report|"
    r"provide_location|provide_info|affirm|deny|thanks|out_of_scope|request_human)"
)


class ModelMissing(FileNotFoundError):
    """No model was trained from the current data and config."""


@dataclass(frozen=True)
class NLUConfig:
    """The parts of config.yml the pipeline reads."""

    featurizers: list[dict[str, Any]]
    intent_options: dict[str, Any]
    type_options: dict[str, Any]
    thresholds: Thresholds

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
            thresholds=Thresholds(
                emergency=float(by_name.get("nlu.safety.EmergencySafetyBias", {}).get("threshold", 0.25)),
                emergency_type=float(
                    by_name.get("nlu.classifier.EmergencyTypeClassifier", {}).get("threshold", 0.5)
                ),
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
    thresholds = config.thresholds
    return {"intent": intent_model, "type": type_model,
            "threshold": thresholds.emergency, "type_threshold": thresholds.emergency_type}


def load_model(project_dir: Path, models_dir: Path) -> dict[str, Any]:
    """Load the model for the current data; refuse a stale one or unexpected types."""
    path = models_dir / model_name(project_dir)
    if not path.exists():
        raise ModelMissing(
            f"no NLU model for the current data and config ({path.name}): run `sigap train`"
        )
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _LOADING:
        if key not in _LOADED:
            untrusted = sio.get_untrusted_types(file=path)
            unexpected = [t for t in untrusted if not t.startswith(("sklearn.", "numpy."))]
            if unexpected:
                raise ValueError(f"{path.name} holds unexpected types {unexpected}; retrain it")
            _LOADED.clear()
            _LOADED[key] = sio.load(path, trusted=untrusted)
        bundle = dict(_LOADED[key])
    bundle["locations"] = crf.CrfLocationExtractor(path.with_suffix(".crfsuite"))
    return bundle


# Reading and auditing a model file costs seconds (skops walks ~250,000 nodes twice); the fitted
# pipelines are only read when parsing, so a process that loads the same file again (a restart of
# the app in-process, the test suite) reuses them. A new file (retrained) is read anew.
_LOADED: dict[tuple[str, int, int], dict[str, Any]] = {}
_LOADING = threading.Lock()


class NLU:
    """Parses a message into the parse contract of DESIGN.md."""

    def __init__(self, bundle: dict[str, Any], resolver: Any = None) -> None:
        self.intent_model: Pipeline = bundle["intent"]
        self.type_model: Pipeline = bundle["type"]
        # Read per message without sklearn's per-call overhead (the same numbers).
        self.intents, self.types = Linear(self.intent_model), Linear(self.type_model)
        self.thresholds = Thresholds(float(bundle.get("threshold", 0.25)),
                                     float(bundle.get("type_threshold", 0.5)))
        self.lexicon = hazards.load()
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
        intents = self.intents.ranking(normalised.text)
        types = self.types.ranking(normalised.text)
        cues = cue_lexicon.detect(normalised)
        signals = self.lexicon.scan(normalised)
        decision = triage(intents, types, signals, cues, self.thresholds, self.lexicon)
        hazard = entity_rules.covered(normalised, [(h.start, h.end) for h in signals.hazards])
        entities = self._entities(normalised, hazard, decision.intent.name)
        language, certain = identify(normalised)
        place = next((e.value for e in entities if e.entity == "location"), None)
        location = self._locate(place, gps)
        return ParseResult(
            text=text,
            language=language,
            language_certain=certain,
            intent=decision.intent,
            intent_ranking=[Label(n, p) for n, p in intents[:10]],
            emergency_type=decision.emergency_type,
            entities=entities,
            location=location,
            cues=cues,
            hazards=[hit.to_dict() for hit in signals.hazards],
            help_call=signals.help_call,
            needs_check=decision.needs_check,
            corrects=signals.corrects,
            also=signals.also,
        )

    def _entities(self, normalised: Normalised, hazard: frozenset[int], intent: str) -> list[Entity]:
        """CRF location spans; the rule-based span only when the CRF finds none. A greeting, a
        yes or a thank-you holds no place unless a place word says so ("Iyo" is no village)."""
        found = entity_rules.extract(normalised, hazard)
        learned = self.locations.extract(normalised, hazard) if self.locations else []
        if learned:
            found = [learned[0]] + [e for e in found if e.entity != "location"]
        if intent in PLACELESS_INTENTS:
            found = [e for e in found if e.entity != "location" or entity_rules.has_place_word(e.value)]
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


def _empty(text: str) -> ParseResult:
    label = Label("out_of_scope", 1.0)
    return ParseResult(text, "id", label, [label], None, [], None, [])
