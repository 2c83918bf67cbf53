"""The rule behind "is anyone hurt?": a no stays a no, whatever words it uses."""

from __future__ import annotations

import pytest

from actions.report import denies_injury


@pytest.mark.parametrize("text", ["tidak ada yang luka", "ga ada korban", "gak ada yg cedera",
                                  "nobody is hurt", "no one is injured", "semua selamat", "all safe"])
def test_a_no_in_words_is_a_no(text: str) -> None:
    assert denies_injury(text, [])


@pytest.mark.parametrize("text", ["ada yang luka", "luka di kepala", "bukan cuma luka, dia pingsan",
                                  "tidak ada yang luka tapi ibu pingsan", "no one hurt but grandma fainted"])
def test_an_injury_named_or_more_to_come_is_not_a_no(text: str) -> None:
    assert not denies_injury(text, [])


def test_a_critical_cue_beside_the_no_keeps_the_answer() -> None:
    assert not denies_injury("tidak ada yang luka, cuma dia tidak bernapas", ["not_breathing"])
