"""`sigap nlu test`: precision/recall/F1, confusion matrix, location span F1, worst errors."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sklearn.metrics import classification_report, confusion_matrix, f1_score
from sklearn.model_selection import StratifiedKFold

from nlu import crf, hazards
from nlu.model import NLU, NLUConfig, fit
from nlu.training_data import load_dir

# A report_emergency that comes out as one of these is a missed emergency.
NOT_EMERGENCY = frozenset({"non_emergency", "prank_or_test", "out_of_scope", "greet", "thanks"})
NO_TYPE = "none"
TERSE_WORDS = 3
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
    lang: str = ""
    alarm: bool = False  # a hazard word or a call for help of the lexicon is in the text

    @property
    def terse(self) -> bool:
        """Three words or fewer."""
        return len(_WORD.findall(self.text)) <= TERSE_WORDS

    @property
    def missed(self) -> bool:
        """A real emergency dismissed."""
        return self.intent == "report_emergency" and self.predicted_intent in NOT_EMERGENCY


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
                   row.get("location_text"), str(row.get("lang") or ""))
        for row in rows
    ]


def parse_case(
    nlu: NLU, case_id: str, text: str, intent: str, kind: str | None, location: str | None,
    lang: str = "",
) -> Case:
    """A labelled message and what the NLU makes of it."""
    parsed = nlu.parse(text)
    signals = hazards.scan(text)
    place = next((e.value for e in parsed.entities if e.entity == "location"), None)
    return Case(
        id=case_id, text=text, intent=intent,
        predicted_intent=parsed.intent.name, confidence=parsed.intent.confidence,
        type=kind, predicted_type=parsed.emergency_type.name if parsed.emergency_type else None,
        location=location, predicted_location=place, lang=lang, alarm=signals.alarm,
    )


def type_labels(cases: list[Case]) -> tuple[list[str], list[str]]:
    """Gold and predicted types of the reported emergencies; a call for help has type "none",
    so guessing a type for `tolong` is an error like any other."""
    emergencies = [c for c in cases if c.intent == "report_emergency"]
    return ([c.type or NO_TYPE for c in emergencies], [c.predicted_type or NO_TYPE for c in emergencies])


def figures(cases: list[Case]) -> str:
    """One line: intent accuracy, emergency recall, type macro-F1, location span F1."""
    if not cases:
        return "no messages"
    accuracy = sum(c.intent == c.predicted_intent for c in cases) / len(cases)
    emergencies = [c for c in cases if c.intent == "report_emergency"]
    missed = sum(c.missed for c in emergencies)
    parts = [f"n={len(cases)}", f"intent acc {accuracy:.3f}"]
    if emergencies:
        gold, got = type_labels(cases)
        macro = f1_score(gold, got, labels=sorted(set(gold)), average="macro", zero_division=0)
        parts += [f"emergency recall {1 - missed / len(emergencies):.3f} ({missed} missed)",
                  f"type macro-F1 {macro:.3f}"]
    if any(c.location for c in cases):
        parts.append(f"location F1 {span_f1(cases)[2]:.3f}")
    return ", ".join(parts)


def slices(cases: list[Case]) -> list[tuple[str, list[Case]]]:
    """The slices reported beside the whole set."""
    found = [("terse (<= 3 words)", [c for c in cases if c.terse])]
    for lang in sorted({c.lang for c in cases if c.lang}):
        found.append((f"lang={lang}", [c for c in cases if c.lang == lang]))
    found.append(("hazard words or calls for help", [c for c in cases if c.alarm]))
    found.append(("hazard-word traps (not a report)",
                  [c for c in cases if c.alarm and c.intent != "report_emergency"]))
    return found


def report(cases: list[Case]) -> str:
    """The printed evaluation."""
    lines = []
    intents = [c.intent for c in cases]
    predicted = [c.predicted_intent for c in cases]
    lines.append(f"messages: {len(cases)}")
    lines.append(f"all: {figures(cases)}")
    for name, part in slices(cases):
        lines.append(f"  {name}: {figures(part)}")
    lines.append(classification_report(intents, predicted, zero_division=0, digits=3))
    labels = sorted(set(intents) | set(predicted))
    lines.append("intent confusion matrix (rows = gold, columns = predicted):")
    lines.append("  " + " ".join(f"{label[:6]:>6}" for label in labels))
    for label, row in zip(labels, confusion_matrix(intents, predicted, labels=labels), strict=True):
        lines.append(f"{label[:12]:>12} " + " ".join(f"{n:>6}" for n in row))
    gold_types, got_types = type_labels(cases)
    if gold_types:
        lines.append('emergency type (of reported emergencies; "none" = a call for help, no type):')
        lines.append(classification_report(gold_types, got_types, labels=sorted(set(gold_types)),
                                           zero_division=0, digits=3))
    p, r, f = span_f1(cases)
    lines.append(f"location span: precision {p:.3f} recall {r:.3f} F1 {f:.3f}")
    missed = Counter((c.text, c.predicted_intent) for c in cases if c.missed)
    lines.append(f"dismissed emergencies: {sum(missed.values())}")
    for (text, intent), n in missed.most_common():
        lines.append(f"  {n} x {text[:80]!r} -> {intent}")
    lines.append("worst errors:")
    wrong = [c for c in cases if c.intent != c.predicted_intent
             or (c.intent == "report_emergency" and (c.type or NO_TYPE) != (c.predicted_type or NO_TYPE))]
    wrong.sort(key=lambda c: (c.intent != "report_emergency", -c.confidence))
    for case in wrong[:25]:
        lines.append(f"  {case.id}: {case.intent}/{case.type} -> {case.predicted_intent}"
                     f"/{case.predicted_type} ({case.confidence:.2f}) {case.text[:70]!r}")
    return "\n".join(lines)


def evaluate_file(project_dir: Path, models_dir: Path, data: list[str]) -> str:
    """Evaluate the current model on labelled messages (one or more files, reported each and
    together)."""
    nlu = NLU.load(project_dir, models_dir)
    per_file = {name: run_cases(nlu, Path(name)) for name in data}
    if len(per_file) == 1:
        return report(next(iter(per_file.values())))
    lines = [f"{Path(name).name}: {figures(cases)}" for name, cases in per_file.items()]
    return "\n".join([*lines, "", report([c for cases in per_file.values() for c in cases])])


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

