"""Our own held-out slices (nlu/eval/*.jsonl) follow the labelled-message format."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR
from nlu.training_data import load_dir
from tests.bot.test_rasa_project import EMERGENCY_TYPES, INTENTS

SLICES = sorted((PROJECT_DIR / "nlu" / "eval").glob("*.jsonl"))
KEYS = {"id", "lang", "text", "intent", "type", "location_text", "people_injured", "urgent"}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("path", SLICES, ids=[p.name for p in SLICES])
def test_every_slice_row_is_labelled_in_the_shared_format(path: Path) -> None:
    for row in _rows(path):
        assert set(row) == KEYS, row["id"]
        assert row["intent"] in INTENTS, row["id"]
        assert row["type"] is None or (row["type"] in EMERGENCY_TYPES and row["intent"] == "report_emergency")
        assert row["lang"] in {"id", "en", "jv", "su", "mix"}, row["id"]
        assert row["location_text"] is None or row["location_text"] in row["text"], row["id"]


def test_no_slice_message_of_three_words_or_more_is_in_the_training_data() -> None:
    # One- and two-word messages ("gas bocor!!", "iya") are few enough to coincide.
    trained = {e.text.lower().strip() for e in load_dir(PROJECT_DIR / "data")}
    leaked = [row["id"] for path in SLICES for row in _rows(path)
              if len(re.findall(r"\w+", row["text"])) >= 3 and row["text"].lower().strip() in trained]
    assert leaked == []
