"""Never dismiss a real emergency: every failure found by trying the bot as reporters write,
told again through the REST channel, with what the dispatcher would receive."""

from __future__ import annotations

import httpx
import pytest

from bot.storage.models import Conversation, DispatchItem, TicketEvent
from tests.conftest import RunningApp
from tests.e2e.conversation import Reporter, dispatched_agencies, tickets

SCOLDING = ("iseng", "menghambat", "fake reports", "delay help")


def _said(replies: list[str]) -> str:
    return "\n".join(replies).lower()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("kebakaran", "fire"),
        ("banjir", "flood"),
        ("KEBAKARANNN", "fire"),
        ("api gede!!", "fire"),
        ("malingg!!", "crime"),
        ("gempaaa", "earthquake"),
        ("help fire!!", "fire"),
        ("kbkrn psr bawah bkl", "fire"),
        ("air masuk rumah udh se dada di perum pondok indah rt 4", "flood"),
    ],
)
def test_a_terse_report_opens_a_ticket_of_its_type_and_is_never_scolded(
    client: httpx.Client, running_app: RunningApp, text: str, kind: str
) -> None:
    replies = Reporter(client, "terse").say(text)
    said = _said(replies)
    assert not any(word in said for word in SCOLDING), replies
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == kind
    assert replies[0].startswith(("Laporan diterima", "Report received")), replies
    assert dispatched_agencies(running_app.services, ticket.id) == set(ticket.agencies)


@pytest.mark.parametrize("text", ["help", "help me"])
def test_help_alone_is_an_emergency_of_unknown_type_answered_in_english(
    client: httpx.Client, running_app: RunningApp, text: str
) -> None:
    replies = Reporter(client, "help").say(text)
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "unknown"
    assert ticket.agencies == ["desk"]
    assert ticket.language == "en"
    assert ticket.number in replies[0]
    assert "what is happening" in _said(replies) and "where" in _said(replies)
    assert "hello" not in _said(replies)


def test_tolong_opens_a_desk_ticket_asks_what_and_where_and_takes_the_type_when_it_comes(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "tolong")
    first = reporter.say("tolong")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "unknown"  # not a tsunami, not any guess
    assert dispatched_agencies(running_app.services, ticket.id) == {"desk"}
    assert "apa yang terjadi" in _said(first) and "di mana" in _said(first)
    assert "tsunami" not in _said(first) and "evakuasi" not in _said(first)

    second = reporter.say("ada kebakaran")
    assert not any(word in _said(second) for word in SCOLDING), second
    [typed] = tickets(running_app.services)
    assert typed.id == ticket.id
    assert typed.emergency_type == "fire"
    assert typed.agencies[0] == "fire_rescue"
    assert "damkar" in _said(second)
    assert {"fire_rescue", "desk"} <= dispatched_agencies(running_app.services, ticket.id)
    with running_app.services.db.session() as session:
        kinds = [e.kind for e in session.query(TicketEvent).filter_by(ticket_id=ticket.id)]
        withdrawn = session.query(DispatchItem).filter_by(ticket_id=ticket.id, agency="desk").all()
    assert "type_changed" in kinds
    assert [i.payload["change"] for i in withdrawn][-1] == "withdrawn"


def test_a_correction_after_tolong_changes_the_type_and_is_not_a_place(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "koreksi")
    reporter.say("tolong")
    reporter.say("bukan tsunami, bapak saya sesak napas")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "medical"
    assert "ambulance" in ticket.agencies
    assert ticket.location_text is None


def test_a_corrected_type_reroutes_the_ticket_and_withdraws_it_from_agencies_it_left(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "ralat")
    reporter.say("kebakaran di pasar weleri kendal")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "fire"
    replies = reporter.say("eh bukan kebakaran, ini korsleting listrik kabelnya nyala")
    [changed] = tickets(running_app.services)
    assert changed.id == ticket.id
    assert changed.emergency_type == "electrical_gas"
    assert "pln" in changed.agencies
    assert sum("dikoreksi" in r.lower() for r in replies) == 1  # told in one short line
    with running_app.services.db.session() as session:
        notices = [(i.agency, i.payload["change"]) for i in session.query(DispatchItem)
                   .filter_by(ticket_id=ticket.id)]
    assert ("pln", "type_changed") in notices
    assert ("police", "withdrawn") in notices


def test_a_second_emergency_from_the_same_reporter_gets_its_own_ticket(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "dua")
    reporter.say("banjir sepinggang di perum griya asri blok c bekasi")
    replies = reporter.say("ada kebakaran juga di sebelah, rumah pak rt")
    first, second = tickets(running_app.services)
    assert first.emergency_type == "flood"
    assert second.emergency_type == "fire"
    assert second.location_text  # a place: its own or the first report's
    assert any(second.number in r for r in replies)


def test_bee_stings_with_breathing_trouble_lead_as_a_medical_emergency_with_adrenaline(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "bees").say(
        "a man was stung by many bees and his face is swelling, he can't breathe well"
    )
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "medical"
    assert "ambulance" in ticket.agencies
    said = _said(replies)
    assert "adrenaline" in said
    assert "snake" not in said


def test_a_collapsed_father_gets_the_breathing_check(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "father").say("my father collapsed and is not responding")
    [ticket] = tickets(running_app.services)
    assert "ambulance" in ticket.agencies
    assert ticket.priority == "critical"
    assert "breathing normally" in _said(replies)


def test_an_accident_in_front_of_a_shop_is_a_report_not_a_question(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "laka").say("kecelakaan di depan indomaret")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "traffic_accident"
    assert "apa keadaan daruratnya" not in _said(replies)
    assert "apa yang terjadi" not in _said(replies)
    assert ticket.location_text == "depan indomaret"


def test_not_breathing_goes_to_the_ambulance_not_to_search_and_rescue(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "cpr-en").say("he is not breathing")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "medical"
    assert "ambulance" in ticket.agencies and "sar" not in ticket.agencies
    assert "push on the chest" in _said(replies)


def test_a_river_is_kept_but_the_bot_asks_which_and_never_says_goodbye_mid_rescue(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "sungai").say("ada yg tenggelam di sungai")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "drowning_water_rescue"
    assert ticket.location_text == "sungai"
    said = _said(replies)
    assert "terima kasih" not in said
    assert replies[0].startswith("Laporan diterima")
    # Order: the ticket, then the first life-saving step, then one question.
    assert replies[1] and "?" not in replies[1].split("\n")[0]
    assert sum("?" in r for r in replies) == 1


def test_a_hazard_word_in_a_joke_is_asked_about_kindly_and_marked_for_an_operator(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "joke")
    replies = reporter.say("kebakaran jenggot wkwk becanda")
    said = _said(replies)
    assert "bahaya sekarang" in said
    assert not any(word in said for word in SCOLDING)
    assert tickets(running_app.services) == []
    with running_app.services.db.session() as session:
        [conversation] = session.query(Conversation).all()
        assert conversation.needs_person == "hazard_in_prank"
    follow = reporter.say("iya")  # someone is in danger after all
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "unknown"
    assert "apa yang terjadi" in _said(follow)


def test_a_bare_village_name_answering_where_is_the_place(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "desa")
    reporter.say("tolong ada kebakaran rumah")
    reporter.say("kaliwlingi")
    [ticket] = tickets(running_app.services)
    assert ticket.location_text and "kaliwlingi" in ticket.location_text
