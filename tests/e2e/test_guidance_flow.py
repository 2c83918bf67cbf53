"""Guidance while help is coming, told the way a frightened reporter would write."""

from __future__ import annotations

import httpx

from tests.conftest import RunningApp
from tests.e2e.conversation import Reporter, tickets


def test_not_breathing_during_the_location_question_gets_cpr_at_once_and_location_after(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "cpr")
    first = reporter.say("tolong bapak saya tiba-tiba jatuh di kamar")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "medical"
    assert "lokasi" in first[-1].lower()  # the bot asks where

    alarm = reporter.say("dia tidak bernapas")
    text = "\n".join(alarm).lower()
    assert "tekan" in text and "dada" in text  # hands-only CPR, at once
    [raised] = tickets(running_app.services)
    assert raised.priority == "critical"
    assert "not_breathing" in raised.cues
    # The alarm was not taken for a place; "di kamar" (a room) is kept while the bot asks where.
    assert raised.location_text == "kamar"

    # The question it interrupted comes back, and the answer lands on the same ticket.
    later = reporter.say("di jalan cempaka no 4 rt 2 rw 3 kelurahan sendangmulyo semarang")
    [located] = tickets(running_app.services)
    assert located.id == ticket.id
    assert located.location_text and "cempaka" in located.location_text
    assert later


def test_a_check_question_branches_on_the_answer(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "branch")
    asked = reporter.say("ada orang pingsan di depan masjid al falah jl kartini 7 kudus")
    assert any("bernapas normal" in reply for reply in asked), asked
    answer = reporter.say("tidak")  # not breathing normally -> CPR
    assert "tekan dada" in "\n".join(answer).lower()
    # Someone unconscious is someone hurt: the bot does not ask that again.
    assert not any("terluka" in reply for reply in answer)


def test_a_breathing_person_goes_in_the_recovery_position(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "recovery")
    reporter.say("ada orang pingsan di depan masjid al falah jl kartini 7 kudus")
    answer = reporter.say("ya")
    assert "posisi pemulihan" in "\n".join(answer).lower()
    assert "tekan dada" not in "\n".join(answer).lower()


def test_a_stop_word_silences_the_bot_until_the_reporter_writes_again(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "hiding")
    reporter.say("suami saya mukul saya dia masih di rumah bawa pisau")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type in {"violence_domestic", "crime"}
    assert "police" in ticket.agencies
    assert reporter.say("DIAM") == []
    assert reporter.say("sy sembunyi di kamar mandi") != []
