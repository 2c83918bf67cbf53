"""Normaliser, language identification, critical cues and entity spans."""

from __future__ import annotations

import pytest

from nlu.cues import detect
from nlu.entities import extract
from nlu.language import identify
from nlu.normalise import normalise


def test_shorthand_is_expanded_and_offsets_point_into_the_original() -> None:
    text = "TLG kbakaran di Jl.Pemuda no10 rmh sy!!"
    normalised = normalise(text)
    assert normalised.text.startswith("tolong kebakaran di jalan . pemuda no 10 rumah saya")
    for token in normalised.tokens:
        original = text[token.start:token.end].lower()
        assert original  # every token comes from somewhere in the message
    assert [text[t.start:t.end] for t in normalised.tokens][:2] == ["TLG", "kbakaran"]


def test_letter_repeats_are_squeezed() -> None:
    assert normalise("tolooong apinyaaa gedeee").text == "tolong apinya gede"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("there is a fire in my neighbour's house please help", "en"),
        ("tolong ada kebakaran di rumah tetangga", "id"),
        ("omahe pak rt kobong", "id"),
        ("help ada kecelakaan di jalan", "id"),
    ],
)
def test_language_is_english_only_when_english_words_dominate(text: str, language: str) -> None:
    assert identify(normalise(text))[0] == language


def test_one_english_word_is_enough_when_nothing_else_is_said() -> None:
    assert identify(normalise("help!!")) == ("en", True)
    assert identify(normalise("tolong")) == ("id", True)
    assert identify(normalise("SOS")) == ("id", False)


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("bapak sy gak napas", "not_breathing"),
        ("he is not breathing", "not_breathing"),
        ("anaknya pingsan", "unconscious"),
        ("darahnya banyak banget", "heavy_bleeding"),
        ("sopirnya kejepit di dalam mobil", "trapped"),
        ("apinya makin besar merembet ke rumah sebelah", "fire_spreading"),
        ("pelakunya bawa golok", "weapon"),
        ("pelakunya masih di sini", "attacker_present"),
    ],
)
def test_critical_cues_are_found_in_slang_and_english(text: str, cue: str) -> None:
    assert cue in detect(normalise(text))


def test_a_calm_message_has_no_cue() -> None:
    assert detect(normalise("lampu jalan di depan rumah mati sejak kemarin")) == []


@pytest.mark.parametrize(
    ("text", "place"),
    [
        ("tolong ada kebakaran di jl pemuda no 10 kendal", "jl pemuda no 10 kendal"),
        ("Kebakaran di Jl. Gajah Mada No. 40 Jepara, apinya besar", "Jl. Gajah Mada No. 40 Jepara"),
        ("motor tabrak truk di km 57 tol japek 3 orang luka", "km 57 tol japek"),
        ("car crash at Jalan Sunset Road near the Circle K, 2 people hurt",
         "Jalan Sunset Road near the Circle K"),
        ("banjir di perum griya asri blok c2 kec. genuk", "perum griya asri blok c2 kec. genuk"),
    ],
)
def test_place_spans_index_the_original_text(text: str, place: str) -> None:
    [location] = [e for e in extract(normalise(text)) if e.entity == "location"]
    assert location.value == place
    assert text[location.start:location.end] == place


def test_on_the_road_alone_is_not_a_place() -> None:
    assert not [e for e in extract(normalise("orangnya tergeletak di jalan")) if e.entity == "location"]


def test_people_counts_and_injuries_are_entities() -> None:
    found = {(e.entity, e.value) for e in extract(normalise("ada 3 orang luka parah"))}
    assert ("people_count", "3 orang") in found
    assert ("injury", "luka parah") in found
