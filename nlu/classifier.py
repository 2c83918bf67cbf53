"""Intent and emergency-type classifiers: count vectors (word + char_wb) and logistic regression."""

from __future__ import annotations

from typing import Any

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
    """Labels with probabilities, best first."""
    probabilities = model.predict_proba([text])[0]
    labels = model.classes_
    order = probabilities.argsort()[::-1]
    return [(str(labels[i]), float(probabilities[i])) for i in order]
