"""The topic a complaint names and the question a reporter asks, matched on normalised words,
with each centre's own office or answer over the national one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR
from bot.tickets.regions import Regions, RegionsError, Topic
from bot.triage.redirects import Redirects

REGIONS = Regions.load(PROJECT_DIR / "regions.yml")
REDIRECTS = Redirects(REGIONS)


@pytest.mark.parametrize("topic", REGIONS.topics, ids=lambda t: t.key)
def test_every_word_of_a_topic_names_that_topic_or_one_listed_before_it(topic: Topic) -> None:
    keys = [t.key for t in REGIONS.topics]
    for word in topic.words:
        found = REDIRECTS.topic(f"mau lapor {word} di sini")
        assert found is not None and keys.index(found.key) <= keys.index(topic.key), word


def test_shouted_and_shortened_words_still_name_the_topic() -> None:
    assert REDIRECTS.office("AIR PDAM MATIII", "33.24", "id").target == "water"
    assert REDIRECTS.office("bansos blm cair2", "33.24", "id").target == "social_aid"
    assert REDIRECTS.office("mati lampu dari sore", "33.24", "id").office.startswith("PLN")


def test_a_centre_office_comes_before_the_national_one_and_lapor_is_the_last_resort() -> None:
    assert "Tirta Moedal" in REDIRECTS.office("pdam mati", "33.74", "id").office
    assert REDIRECTS.office("pdam mati", "33.21", "en").office == "SP4N-LAPOR! (lapor.go.id, SMS 1708)"
    unknown = REDIRECTS.office("mau komplain pelayanan kelurahan", "33.24", "en")
    assert (unknown.target, unknown.topic) == ("default", None)
    assert unknown.office.startswith("SP4N-LAPOR! for Kendal")


def test_questions_get_the_centres_answer_and_other_text_none() -> None:
    assert REDIRECTS.answer("kena pulsa ga", "33.24", "id").target == "faq:cost"  # type: ignore[union-attr]
    assert REDIRECTS.answer("are you open at night", "33.74", "en").text.startswith(  # type: ignore[union-attr]
        "Semarang Command Center 112 answers")
    assert REDIRECTS.answer("air pdam mati", "33.24", "id") is None


def test_a_regions_file_without_a_default_office_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "regions.yml"
    broken.write_text('default: "1"\ncentres: [{code: "1", name: "x", regencies: ["1"]}]\n', encoding="utf-8")
    with pytest.raises(RegionsError, match="default"):
        Regions.load(broken)
