"""Intent and emergency-type classifiers: count vectors (word + char_wb) and logistic regression."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


def _featurizer(spec: dict[str, Any]) -> CountVectorizer:
    analyzer = spec.get("analyzer", "word")
    return CountVectorizer(
        analyzer=analyzer,
        ngram_range=(int(spec.get("min_ngram", 1)), int(spec.get("max_ngram", 1))),
        lowercase=False,  # the normaliser already lower-cases
        binary=True,
        # The normaliser already split the text into tokens joined by spaces.
        token_pattern=r"[^ ]+" if analyzer == "word" else None,
        dtype="float32",
    )


def build_classifier(featurizers: list[dict[str, Any]], options: dict[str, Any]) -> Pipeline:
    """Rasa's CountVectorsFeaturizer(s) + LogisticRegressionClassifier, as one sklearn pipeline."""
    union = FeatureUnion([(f"cv{i}", _featurizer(spec)) for i, spec in enumerate(featurizers)])
    model = LogisticRegression(
        C=float(options.get("C", 10)),
        max_iter=int(options.get("max_iter", 300)),
        solver=str(options.get("solver", "lbfgs")),
        class_weight="balanced",
    )
    return Pipeline([("features", union), ("classifier", model)])


def ranking(model: Pipeline, text: str) -> list[tuple[str, float]]:
    """Labels with probabilities, best first (sklearn's own path; see `Linear` for the fast one)."""
    probabilities = model.predict_proba([text])[0]
    labels = model.classes_
    order = probabilities.argsort()[::-1]
    return [(str(labels[i]), float(probabilities[i])) for i in order]


class Linear:
    """A trained pipeline read for one message at a time: the same binary n-gram features and the
    same multinomial logistic regression, without sklearn's per-call checks, sparse matrices and
    joblib dispatch (they cost ten times the arithmetic for a single text). Same numbers as
    `ranking` (tests/nlu/test_classifier.py holds them equal)."""

    def __init__(self, model: Pipeline) -> None:
        union: FeatureUnion = model.named_steps["features"]
        regression: LogisticRegression = model.named_steps["classifier"]
        self.analyzers: list[tuple[Callable[[str], list[str]], dict[str, int], int]] = []
        offset = 0
        for _name, vectorizer in union.transformer_list:
            self.analyzers.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, offset))
            offset += len(vectorizer.vocabulary_)
        self.weights = np.ascontiguousarray(regression.coef_.T, dtype=np.float64)  # features x classes
        self.intercept = regression.intercept_.astype(np.float64)
        self.labels = [str(label) for label in regression.classes_]

    def features(self, text: str) -> list[int]:
        """The columns present in the text (binary counts: each once)."""
        present: set[int] = set()
        for analyze, vocabulary, offset in self.analyzers:
            present.update(offset + vocabulary[gram] for gram in analyze(text) if gram in vocabulary)
        return sorted(present)

    def ranking(self, text: str) -> list[tuple[str, float]]:
        """Labels with probabilities, best first."""
        columns = self.features(text)
        scores = self.intercept + (self.weights[columns].sum(axis=0) if columns else 0.0)
        if len(scores) == 1:  # two classes (a small training set): one score, the second class's
            second = 1.0 / (1.0 + np.exp(-scores[0]))
            probabilities = np.array([1.0 - second, second])
        else:
            scores = np.exp(scores - scores.max())
            probabilities = scores / scores.sum()
        order = probabilities.argsort()[::-1]
        return [(self.labels[i], float(probabilities[i])) for i in order]
