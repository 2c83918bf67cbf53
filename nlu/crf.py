"""Location spans with a linear-chain CRF (python-crfsuite, the engine behind Rasa's
CRFEntityExtractor), trained on the `[span](location)` annotations of data/nlu.

The model is crfsuite's own binary format: loading it runs no code (unlike a pickle).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pycrfsuite

from nlu import hazards
from nlu.entities import (
    GENERIC,
    LEAD_INS,
    PLACE_HEADS,
    RELATIONAL,
    STOPS,
    covered,
    sentence_start,
    tidy_span,
)
from nlu.normalise import Normalised, normalise
from nlu.training_data import Example
from nlu.types import Entity

ENTITY = "location"


def _shape(raw: str) -> str:
    if raw.isdigit():
        return "digit"
    if raw[:1].isupper():
        return "upper" if raw.isupper() and len(raw) > 1 else "title"
    return "lower" if raw.isalpha() else "mixed"


def _word_features(norm: Normalised, i: int, prefix: str, hazard: frozenset[int]) -> list[str]:
    token = norm.tokens[i]
    word = token.text
    raw = norm.original[token.start:token.end]
    first = sentence_start(norm.original, token.start)
    return [
        f"{prefix}w={word}", f"{prefix}shape={'first' if first else _shape(raw)}",
        f"{prefix}suf3={word[-3:]}", f"{prefix}hazard={token.start in hazard}",
        f"{prefix}head={word in PLACE_HEADS}", f"{prefix}generic={word in GENERIC}",
        f"{prefix}rel={word in RELATIONAL}", f"{prefix}lead={word in LEAD_INS}",
        f"{prefix}stop={word in STOPS}", f"{prefix}punct={not word[0].isalnum()}",
    ]


def features(norm: Normalised, hazard: frozenset[int] | None = None) -> list[list[str]]:
    """Features of each token: the word, its shape (or "first" of a sentence), whether it is a
    hazard word, its lexicon classes, and its neighbours'."""
    if hazard is None:
        hazard = hazard_starts(norm)
    rows = []
    count = len(norm.tokens)
    for i in range(count):
        row = ["bias", f"pos={min(i, 5)}"] + _word_features(norm, i, "", hazard)
        for offset in (-2, -1, 1, 2):
            j = i + offset
            row += _word_features(norm, j, f"{offset}:", hazard) if 0 <= j < count else [f"{offset}:none"]
        rows.append(row)
    return rows


def hazard_starts(norm: Normalised) -> frozenset[int]:
    """Starts of the tokens that are hazard words of the lexicon."""
    return covered(norm, [(hit.start, hit.end) for hit in hazards.load().scan(norm).hazards])


def labels(example: Example, norm: Normalised) -> list[str]:
    """BIO labels of the example's tokens from its location annotations."""
    tags = ["O"] * len(norm.tokens)
    for span in example.spans:
        if span.entity != ENTITY:
            continue
        inside = [i for i, t in enumerate(norm.tokens) if t.start < span.end and t.end > span.start]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + ENTITY
    return tags


def train(examples: list[Example], path: Path, max_iterations: int = 80) -> None:
    """Train on every example (those without a place teach where places are not)."""
    trainer = pycrfsuite.Trainer(verbose=False)
    for example in examples:
        norm = normalise(example.text)
        if norm.tokens:
            trainer.append(features(norm), labels(example, norm))
    trainer.set_params({"c1": 0.05, "c2": 0.01, "max_iterations": max_iterations,
                        "feature.possible_transitions": True})
    trainer.train(str(path))


class CrfLocationExtractor:
    """Tags location spans with a trained CRF."""

    def __init__(self, path: Path) -> None:
        self.tagger = pycrfsuite.Tagger()
        self.tagger.open(str(path))
        # tag() then marginal() read the tagger's state of the last sequence: one caller at a time
        # (two turns may parse at once in their threads).
        self._lock = threading.Lock()

    def extract(self, norm: Normalised, hazard: frozenset[int] | None = None) -> list[Entity]:
        """Location entities, longest first, indexed on the original text."""
        if not norm.tokens:
            return []
        with self._lock:
            tags = self.tagger.tag(features(norm, hazard))
            marginals = [float(self.tagger.marginal(tag, i)) for i, tag in enumerate(tags)]
        spans: list[tuple[int, int]] = []
        for i, tag in enumerate(tags):
            if tag == "B-" + ENTITY or (tag == "I-" + ENTITY and (not spans or spans[-1][1] != i)):
                spans.append((i, i + 1))
            elif tag == "I-" + ENTITY:
                spans[-1] = (spans[-1][0], i + 1)
        entities = []
        hazard = hazard if hazard is not None else hazard_starts(norm)
        tidy = [tidy_span(norm, first, last, hazard) for first, last in spans]
        for first, last in sorted((s for s in tidy if s[1] > s[0]), key=lambda s: s[0] - s[1]):
            start, end = norm.tokens[first].start, norm.tokens[last - 1].end
            probability = marginals[first]
            entities.append(Entity(ENTITY, norm.original[start:end], start, end,
                                   round(float(probability), 3), "CRFEntityExtractor"))
        return entities
