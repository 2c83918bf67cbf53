"""The per-message reader of the trained classifiers gives sklearn's own numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR
from nlu.classifier import Linear, ranking
from nlu.model import load_model
from nlu.normalise import normalise
from nlu.training_data import load_dir


@pytest.mark.parametrize("which", ["intent", "type"])
def test_the_fast_reader_ranks_every_training_text_as_sklearn_does(models_dir: Path, which: str) -> None:
    model = load_model(PROJECT_DIR, models_dir)[which]
    fast = Linear(model)
    texts = [normalise(e.text).text for e in load_dir(PROJECT_DIR / "data" / "nlu")][::3]
    texts += ["", "zzzz qqqq", "🔥🔥", "tolong " * 40]
    for text in texts:
        expected, found = ranking(model, text), fast.ranking(text)
        assert dict(found) == pytest.approx(dict(expected), abs=1e-6), text
        assert found[0][1] == pytest.approx(expected[0][1], abs=1e-6)


def test_a_two_class_model_reads_as_sklearn_does() -> None:
    from nlu.classifier import build_classifier

    model = build_classifier([{"analyzer": "word"}, {"analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4}],
                             {"C": 10})
    texts = ["ada kebakaran", "rumah terbakar", "tes doang", "iseng aja", "api besar", "cuma tes"]
    model.fit(texts, ["fire", "fire", "prank", "prank", "fire", "prank"])
    fast = Linear(model)
    for text in [*texts, "kebakaran tes", "zzz"]:
        assert dict(fast.ranking(text)) == pytest.approx(dict(ranking(model, text)), abs=1e-6)
