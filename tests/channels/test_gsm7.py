"""GSM-7 (3GPP TS 23.038): the alphabet, transliteration, septets and SMS segments."""

from __future__ import annotations

import pytest

from channels.gsm7 import GSM7_BASIC, GSM7_ESCAPE, GSM7_EXTENDED, is_gsm7, segments, septets, to_gsm7


def test_the_tables_have_the_standard_positions() -> None:
    assert len(GSM7_BASIC) == 128
    assert [GSM7_BASIC.index(c) for c in "@£$_ä"] == [0x00, 0x01, 0x02, 0x11, 0x7B]
    assert GSM7_BASIC[0x1B] == GSM7_ESCAPE
    assert set(GSM7_EXTENDED) == set("\f^{}\\[~]|€")


@pytest.mark.parametrize("text", [
    "Tolong kirim ambulans ke Jl. Merdeka 5, RT 02/RW 03!",
    "Rp 50.000 {tunai} [lunas] ~ 100€ | a\\b ^",
    "Baris satu\nbaris dua\r\n",
    "Ça va, Öl, Ñ, §5 ¿Qué? ¡Olé!",
])
def test_text_in_the_alphabet_or_its_extension_is_gsm7(text: str) -> None:
    assert is_gsm7(text)


@pytest.mark.parametrize("text", ["\u201ckutip\u201d", "a \u2013 b", "\U0001F691", "\u00e7", "\ua9b1", "\t",
                                  GSM7_ESCAPE])
def test_curly_quotes_dashes_emoji_and_other_scripts_are_not_gsm7(text: str) -> None:
    assert not is_gsm7(text)


def test_extension_characters_take_two_septets() -> None:
    assert septets("[x]") == 5
    assert septets("\u20ac") == 2
    assert septets("Rp 10.000") == 9


@pytest.mark.parametrize(("text", "count"), [
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
    ("\u20ac" * 80, 1),  # 160 septets
    ("\u20ac" * 81, 2),
    # 306 septets is two parts by arithmetic, but ESC + char cannot straddle a part boundary.
    ("a" * 152 + "\u20ac" + "a" * 152, 3),
])
def test_gsm7_segments_hold_160_septets_alone_and_153_per_part(text: str, count: int) -> None:
    assert segments(text) == count


@pytest.mark.parametrize(("text", "count"), [
    ("Halo \U0001F691", 1),
    ("\u0113" * 70, 1),
    ("\u0113" * 71, 2),
    ("\U0001F691" * 35, 1),  # an emoji is a surrogate pair: two UTF-16 units
    ("\U0001F691" * 36, 2),
    # 134 units is two parts of 67 by arithmetic, but a surrogate pair is never split.
    ("x" * 66 + "\U0001F691" + "x" * 66, 3),
])
def test_one_character_outside_gsm7_makes_the_text_ucs2_of_70_then_67(text: str, count: int) -> None:
    assert not is_gsm7(text)
    assert segments(text) == count


@pytest.mark.parametrize(("text", "plain"), [
    ("\u201cAman\u201d \u2014 tunggu\u2026 \U0001F691", '"Aman" - tunggu...'),
    ("Tetap tenang \U0001F64F dan jauhi asap", "Tetap tenang dan jauhi asap"),
    ("\u2018Pak\u2019 `RT` 5\u20136 cm \u2212 1", "'Pak' 'RT' 5-6 cm - 1"),
    ("Caf\u00e9 \u00e0 S\u00e3o Paulo, gar\u00e7on, \u00c7a", "Caf\u00e9 \u00e0 Sao Paulo, garcon, \u00c7a"),
    ("\uff21\uff22\uff23 \ufb01x", "ABC fix"),
    ("Jl.\u00a0Pemuda\t10", "Jl. Pemuda 10"),
    ("aksara \ua9b1\ua9a4", "aksara ??"),
    ("{[\u20ac]}\nok", "{[\u20ac]}\nok"),
])
def test_to_gsm7_transliterates_what_the_alphabet_lacks(text: str, plain: str) -> None:
    assert to_gsm7(text) == plain
    assert is_gsm7(to_gsm7(text))
    assert to_gsm7(to_gsm7(text)) == to_gsm7(text)


def test_a_transliterated_reply_goes_back_from_ucs2_to_gsm7_segments() -> None:
    reply = "Tetap tenang \U0001F64F \u2014 bantuan \u201csedang\u201d menuju. " * 4
    assert not is_gsm7(reply) and segments(reply) == 3  # UCS-2: 172 units
    assert segments(to_gsm7(reply)) == 1
