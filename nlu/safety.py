"""The safety rules applied after the model: a model proposes, a rule guarantees (DESIGN.md).

- A hazard word, a call for help or a critical cue is never answered as a prank, a greeting,
  out of scope, a thank-you or a non-emergency, nor lost as "just a place".
- Where the model reads a joke and a hazard word stands beside laughter or an idiom
  ("kebakaran jenggot wkwk"), the message stays a prank but `needs_check` is set: the bot asks
  kindly whether someone is in danger and an operator is told. It is never a scolding. The same
  holds for a complaint or a question the model is sure of about a hazard that is not happening
  now ("bekas banjir tahun lalu", "pelatihan pemadam kebakaran").
- The emergency type is a state, not a guess: a call for help alone, or a type the model is not
  sure of and no hazard word confirms, has no type (`None`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nlu.hazards import Lexicon, Signals
from nlu.types import Label

# Intents that would dismiss a message, or lose its emergency (a place alone).
DISMISSIVE_INTENTS = frozenset(
    {"non_emergency", "prank_or_test", "out_of_scope", "greet", "thanks", "provide_location"}
)
# Answers the model may keep for a hazard that is not happening now, when it is this sure.
NOT_NOW_INTENTS = frozenset({"non_emergency", "out_of_scope", "thanks"})
NOT_NOW_CONFIDENCE = 0.8
# Intents after which an emergency type is worth reporting (a type may ride on details).
TYPED_INTENTS = frozenset({"report_emergency", "provide_info"})
EMERGENCY = "report_emergency"
PRANK = "prank_or_test"
HUMAN = "request_human"


@dataclass(frozen=True)
class Thresholds:
    """From config.yml: when the emergency probability alone overrides a dismissal, and how sure
    the type model must be when no hazard word backs its type."""

    emergency: float = 0.25
    emergency_type: float = 0.5


@dataclass(frozen=True)
class Triage:
    """The decision on one message."""

    intent: Label
    emergency_type: Label | None
    needs_check: bool = False


def triage(
    intents: list[tuple[str, float]], types: list[tuple[str, float]], signals: Signals,
    cues: list[str], thresholds: Thresholds, lexicon: Lexicon,
) -> Triage:
    """Intent and type after the safety rules."""
    intent, needs_check = decide_intent(intents, signals, cues, thresholds.emergency)
    kind = None
    if intent.name in TYPED_INTENTS or cues:
        kind = decide_type(types, signals, cues, thresholds.emergency_type, lexicon)
    return Triage(intent, kind, needs_check)


def decide_intent(
    intents: list[tuple[str, float]], signals: Signals, cues: list[str], threshold: float
) -> tuple[Label, bool]:
    """The intent, and whether a joke around a hazard word needs a kind check question."""
    name, confidence = intents[0]
    emergency = dict(intents).get(EMERGENCY, 0.0)
    if name == HUMAN and (signals.hazards or cues):
        # "petugas tolong, rumah saya kebakaran": the report first; the ranking still tells the
        # console the reporter asked for a person.
        return Label(EMERGENCY, max(emergency, threshold)), False
    if name not in DISMISSIVE_INTENTS:
        return Label(name, confidence), False
    if signals.alarm and signals.joke and not cues:
        # Laughter or an idiom around the hazard word: a joke, most likely, but not certainly.
        return Label(PRANK, dict(intents).get(PRANK, confidence)), True
    if (signals.hazards and signals.not_now and not signals.help_call and not cues
            and name in NOT_NOW_INTENTS and confidence >= NOT_NOW_CONFIDENCE):
        # Last year's flood, a fire-safety course: answered as what it is, and still checked.
        return Label(name, confidence), True
    if signals.alarm or cues:
        return Label(EMERGENCY, emergency), False
    if emergency >= threshold and name != "provide_location":
        # A bare place ("Kebon Jeruk") scores as a report too: only a signal makes it one.
        return Label(EMERGENCY, emergency), False
    return Label(name, confidence), False


def decide_type(
    types: list[tuple[str, float]], signals: Signals, cues: list[str], threshold: float,
    lexicon: Lexicon,
) -> Label | None:
    """The emergency type: the model's when it is sure or a hazard word backs it, else the type
    the hazard words or the cues name, else None (unknown)."""
    types = [(kind, p) for kind, p in types if kind not in signals.denied] or types
    probability = dict(types)
    leading = sorted(lexicon.leading_cues & set(cues))
    if leading:  # anaphylaxis after a sting: a medical emergency leads, whatever stung
        kind = lexicon.cue_types[leading[0]]
        return Label(kind, max(probability.get(kind, 0.0), threshold))
    named = signals.types
    best, confidence = types[0]
    if named:
        if best in named or confidence >= max(0.8, threshold):
            return Label(best, confidence)
        choice = max(named, key=lambda kind: probability.get(kind, 0.0))
        return Label(choice, max(probability.get(choice, 0.0), threshold))
    if confidence >= threshold and not only_calls_for_help(signals):
        return Label(best, confidence)
    for cue in cues:
        if cue in lexicon.cue_types:
            kind = lexicon.cue_types[cue]
            return Label(kind, max(probability.get(kind, 0.0), threshold))
    return None


def only_calls_for_help(signals: Signals) -> bool:
    """`tolong`, `help me`, `SOS!!`: a call for help and nothing that says what happened."""
    return signals.help_call and signals.bare
