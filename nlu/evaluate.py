"""`sigap nlu test`: precision/recall/F1, confusion matrix, location span F1, worst errors."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import classification_report, confusion_matrix
from sklearn.model_selection import StratifiedKFold

from nlu import crf
from nlu.model import NLU, NLUConfig, fit
from nlu.training_data import load_dir

NOT_EMERGENCY = frozenset({"non_emergency", "prank_or_test", "out_of_scope", "greet"})
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Case:
    """A labelled message and what the NLU made of it."""

    id: str
    text: str
    intent: str
    predicted_intent: str
    confidence: float
    type: str | None
    predicted_type: str | None
    location: str | None
    predicted_location: str | None


def _tokens(text: str | None) -> list[str]:
    return _WORD.findall(text.lower()) if text else []


def span_f1(cases: list[Case]) -> tuple[float, float, float]:
    """Token-overlap precision, recall and F1 of location spans, over all messages."""
    overlap = predicted = gold = 0
    for case in cases:
        want, got = _tokens(case.location), _tokens(case.predicted_location)
        remaining = list(want)
        for token in got:
            if token in remaining:
                remaining.remove(token)
                overlap += 1
        predicted += len(got)
        gold += len(want)
    p = overlap / predicted if predicted else 1.0
    r = overlap / gold if gold else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run_cases(nlu: NLU, path: Path) -> list[Case]:
    """Parse every labelled message of a JSON-lines file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [
        parse_case(nlu, str(row.get("id", "")), row["text"], row["intent"], row.get("type"),
                   row.get("location_text"))
        for row in rows
    ]


def parse_case(
    nlu: NLU, case_id: str, text: str, intent: str, kind: str | None, location: str | None
) -> Case:
    """A labelled message and what the NLU makes of it."""
    parsed = nlu.parse(text)
    place = next((e.value for e in parsed.entities if e.entity == "location"), None)
    return Case(
        id=case_id, text=text, intent=intent,
        predicted_intent=parsed.intent.name, confidence=parsed.intent.confidence,
        type=kind, predicted_type=parsed.emergency_type.name if parsed.emergency_type else None,
        location=location, predicted_location=place,
    )


def report(cases: list[Case]) -> str:
    """The printed evaluation."""
    lines = []
    intents = [c.intent for c in cases]
    predicted = [c.predicted_intent for c in cases]
    accuracy = sum(a == b for a, b in zip(intents, predicted, strict=True)) / len(cases)
    lines.append(f"messages: {len(cases)}")
    lines.append(f"intent accuracy: {accuracy:.3f}")
    lines.append(classification_report(intents, predicted, zero_division=0, digits=3))
    labels = sorted(set(intents) | set(predicted))
    lines.append("intent confusion matrix (rows = gold, columns = predicted):")
    lines.append("  " + " ".join(f"{label[:6]:>6}" for label in labels))
    for label, row in zip(labels, confusion_matrix(intents, predicted, labels=labels), strict=True):
        lines.append(f"{label[:12]:>12} " + " ".join(f"{n:>6}" for n in row))
    typed = [c for c in cases if c.type]
    if typed:
        gold_types = [c.type or "" for c in typed]
        got_types = [c.predicted_type or "none" for c in typed]
        lines.append("emergency type:")
        lines.append(classification_report(gold_types, got_types, zero_division=0, digits=3))
    emergencies = [c for c in cases if c.intent == "report_emergency"]
    missed = [c for c in emergencies if c.predicted_intent in NOT_EMERGENCY]
    if emergencies:
        recall = 1 - len(missed) / len(emergencies)
        lines.append(f"emergency recall: {recall:.3f} ({len(missed)} of {len(emergencies)} missed)")
    p, r, f = span_f1(cases)
    lines.append(f"location span: precision {p:.3f} recall {r:.3f} F1 {f:.3f}")
    lines.append("worst errors:")
    wrong = [c for c in cases if c.intent != c.predicted_intent or (c.type and c.type != c.predicted_type)]
    wrong.sort(key=lambda c: (c.intent != "report_emergency", -c.confidence))
    for case in wrong[:15]:
        lines.append(f"  {case.id}: {case.intent}/{case.type} -> {case.predicted_intent}"
                     f"/{case.predicted_type} ({case.confidence:.2f}) {case.text[:70]!r}")
    return "\n".join(lines)


def evaluate_file(project_dir: Path, models_dir: Path, data: str) -> str:
    """Evaluate the current model on labelled messages."""
    nlu = NLU.load(project_dir, models_dir)
    return report(run_cases(nlu, Path(data)))


def cross_validate(project_dir: Path, folds: int) -> str:
    """K-fold cross-validation of the whole NLU as it runs in production: each fold fits the
    intent and type classifiers and the location CRF on the other folds, and its examples are
    parsed (safety bias, cues and all) and reported like `sigap nlu test`."""
    config = NLUConfig.load(project_dir / "config.yml")
    examples = load_dir(project_dir / "data")
    labels = [e.intent + (f"/{e.emergency_type}" if e.emergency_type else "") for e in examples]
    cases: list[Case] = []
    splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(examples, labels)
    with tempfile.TemporaryDirectory() as tmp:
        for fold, (train_idx, test_idx) in enumerate(splits):
            crf_path = Path(tmp) / f"fold{fold}.crfsuite"
            bundle = fit(config, [examples[i] for i in train_idx], crf_path)
            bundle["locations"] = crf.CrfLocationExtractor(crf_path)
            nlu = NLU(bundle)
            for i in test_idx:
                example = examples[i]
                place = next((s.value for s in example.spans if s.entity == "location"), None)
                cases.append(parse_case(nlu, f"fold{fold}:{i}", example.text, example.intent,
                                        example.emergency_type, place))
    return f"{folds}-fold cross-validation on {len(cases)} training examples\n" + report(cases)

