"""The hazard lexicon: every entry, alone and with the noise of panic, is never dismissed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import PROJECT_DIR
from nlu import hazards
from nlu.model import NLU
from nlu.safety import DISMISSIVE_INTENTS

LEXICON = hazards.load()
DISMISSED = DISMISSIVE_INTENTS - {"provide_location"}


@pytest.fixture(scope="module")
def nlu(models_dir: Path) -> NLU:
    return NLU.load(PROJECT_DIR, models_dir)


def _stretch(term: str) -> str:
    """Repeat the last letter of each word: what shouting looks like ("gempaaa")."""
    return re.sub(r"([a-z])\b", r"\1\1\1", term)


def noisy(term: str) -> list[str]:
    """The entry alone and as people in panic write it."""
    return [term, term.upper(), _stretch(term), f"{term}!!", f"tolong {term}", f"{term} di pasar baru"]


def test_the_lexicon_covers_every_type_and_the_calls_for_help() -> None:
    kinds = {kind for kind, _term in LEXICON.all_hazard_terms()}
    assert len(kinds) == 18
    assert "tolong" in LEXICON.all_help_terms() and "sos" in LEXICON.all_help_terms()


def test_every_hazard_entry_is_found_in_every_noisy_form() -> None:
    missed = [(kind, text) for kind, term in LEXICON.all_hazard_terms() for text in noisy(term)
              if kind not in hazards.scan(text).types]
    assert missed == []


def test_no_hazard_entry_or_call_for_help_is_ever_dismissed(nlu: NLU) -> None:
    terms = [term for _kind, term in LEXICON.all_hazard_terms()] + LEXICON.all_help_terms()
    dismissed = [(text, nlu.parse(text).intent.name) for term in terms for text in noisy(term)]
    dismissed = [(text, intent) for text, intent in dismissed if intent in DISMISSED]
    assert dismissed == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("kebakaranrumah tetangga", "fire"),  # run together
        ("kebakaean di pasar", "fire"),  # one typo in a long word
        ("MALINGGG", "crime"),
        ("bnjiiirrr", "flood"),
        ("omahku kobong", "fire"),
        ("imah kahuruan", "fire"),
    ],
)
def test_hazard_words_are_read_through_panic_spelling(text: str, kind: str) -> None:
    assert kind in hazards.scan(text).types


def test_harmless_phrases_and_places_are_not_hazards() -> None:
    assert hazards.scan("naik kereta api ke jogja").types == []
    assert "flood" not in hazards.scan("saya tinggal di kota banjar").types


def test_tolong_as_please_is_not_a_call_for_help_but_tolong_alone_is() -> None:
    assert not hazards.scan("tolong info jadwal samsat keliling").help_call
    assert hazards.scan("tolong!!").help_call and hazards.scan("tolong!!").bare
    assert not hazards.scan("tolong ada kebakaran").bare


def test_laughter_and_idioms_mark_a_joke_but_a_test_does_not() -> None:
    assert hazards.scan("kebakaran jenggot wkwkwk").joke
    assert hazards.scan("ada gempa di hatiku").joke
    assert not hazards.scan("tes tes, ada kebakaran di pasar").joke


def test_corrections_and_second_emergencies_are_recognised() -> None:
    assert hazards.scan("eh bukan kebakaran, ini korsleting").corrects
    assert hazards.scan("ada kebakaran juga di sebelah").also
