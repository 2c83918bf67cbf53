"""NLU benchmark: training time, parse latency per message on one core, and a spaCy peer.

    .venv/bin/python bench/nlu.py [--dev ../shared/eval/dev_messages.jsonl]

The peer (spaCy `blank("id")` + textcat, trained on the same data/nlu examples) is scored
on the same dev set, side by side; it needs `pip install spacy` (the `bench` extra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlu.model import NLU, train  # noqa: E402
from nlu.training_data import load_dir  # noqa: E402


def _dev(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def bench_ours(dev: list[dict], rounds: int) -> dict[str, float]:
    """Train, then time every dev message `rounds` times."""
    with tempfile.TemporaryDirectory() as models:
        started = time.perf_counter()
        train(ROOT, Path(models))
        train_seconds = time.perf_counter() - started
        nlu = NLU.load(ROOT, Path(models))
    texts = [row["text"] for row in dev]
    for text in texts:  # warm-up
        nlu.parse(text)
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            nlu.parse(text)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    correct = sum(nlu.parse(r["text"]).intent.name == r["intent"] for r in dev)
    return {
        "train_s": train_seconds,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "intent_acc": correct / len(dev),
    }


def bench_spacy(dev: list[dict], rounds: int) -> dict[str, float] | None:
    """The peer: spaCy's textcat on the same training examples."""
    try:
        import spacy
        from spacy.training import Example
    except ImportError:
        return None
    examples = load_dir(ROOT / "data")
    labels = sorted({e.intent for e in examples})
    nlp = spacy.blank("id")
    textcat = nlp.add_pipe("textcat")
    for label in labels:
        textcat.add_label(label)
    train_set = [
        Example.from_dict(nlp.make_doc(e.text),
                          {"cats": {label: float(label == e.intent) for label in labels}})
        for e in examples
    ]
    started = time.perf_counter()
    optimizer = nlp.initialize(lambda: train_set)
    for _ in range(10):
        losses: dict[str, float] = {}
        for batch in spacy.util.minibatch(train_set, size=32):
            nlp.update(batch, sgd=optimizer, losses=losses)
    train_seconds = time.perf_counter() - started
    timings, correct = [], 0
    for _ in range(rounds):
        for row in dev:
            t0 = time.perf_counter()
            nlp(row["text"])
            timings.append((time.perf_counter() - t0) * 1000)
    for row in dev:
        cats = nlp(row["text"]).cats
        correct += max(cats, key=cats.get) == row["intent"]
    timings.sort()
    return {
        "train_s": train_seconds,
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[int(len(timings) * 0.99) - 1],
        "intent_acc": correct / len(dev),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev", default=str(ROOT.parent / "shared" / "eval" / "dev_messages.jsonl"))
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    dev = _dev(Path(args.dev))
    ours = bench_ours(dev, args.rounds)
    peer = bench_spacy(dev, args.rounds)
    print(f"dev messages: {len(dev)}, rounds: {args.rounds}, training examples: "
          f"{len(load_dir(ROOT / 'data'))}")
    print(f"{'':24}{'sigap (sklearn)':>18}{'spaCy textcat':>18}")
    for key, label in [("train_s", "training time (s)"), ("p50_ms", "parse p50 (ms)"),
                       ("p99_ms", "parse p99 (ms)"), ("intent_acc", "dev intent accuracy")]:
        theirs = f"{peer[key]:18.3f}" if peer else f"{'not installed':>18}"
        print(f"{label:24}{ours[key]:18.3f}{theirs}")


if __name__ == "__main__":
    main()
