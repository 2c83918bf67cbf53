"""`sigap nlu test`: figures per slice, types of calls for help, every dismissed emergency."""

from __future__ import annotations

from nlu.evaluate import Case, report


def _case(text: str, intent: str, got: str, kind: str | None = None, got_kind: str | None = None,
          lang: str = "id", alarm: bool = False) -> Case:
    return Case(id=text, text=text, intent=intent, predicted_intent=got, confidence=0.9, type=kind,
                predicted_type=got_kind, location=None, predicted_location=None, lang=lang, alarm=alarm)


CASES = [
    _case("kebakaran", "report_emergency", "prank_or_test", "fire", None, alarm=True),
    _case("kebakaran", "report_emergency", "prank_or_test", "fire", None, alarm=True),
    _case("tolong", "report_emergency", "report_emergency", None, "tsunami", alarm=True),
    _case("ada kebakaran besar di pasar kota", "report_emergency", "report_emergency", "fire", "fire"),
    _case("help me please", "report_emergency", "report_emergency", None, None, lang="en", alarm=True),
    _case("kebakaran jenggot wkwk", "prank_or_test", "prank_or_test", alarm=True),
]


def test_the_report_names_every_slice_and_counts_each_dismissed_emergency() -> None:
    printed = report(CASES)
    assert "terse (<= 3 words): n=5" in printed
    assert "lang=en: n=1" in printed and "lang=id: n=5" in printed
    assert "hazard-word traps (not a report): n=1, intent acc 1.000" in printed
    assert "dismissed emergencies: 2" in printed
    assert "2 x 'kebakaran' -> prank_or_test" in printed
    assert "emergency recall 0.600 (2 missed)" in printed


def test_guessing_a_type_for_a_call_for_help_is_a_type_error() -> None:
    printed = report(CASES)
    none_row = next(line for line in printed.splitlines() if line.strip().startswith("none "))
    precision, recall = (float(x) for x in none_row.split()[1:3])
    assert recall == 0.5  # "tolong" -> tsunami is a miss of the "none" type
