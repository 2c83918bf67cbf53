"""Non-emergencies, questions about 112, repeated texts, chain messages and silent chats through
the REST channel, on each database: each answered as a 112 centre would, counted, and never in
the way of an emergency that follows."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from bot.storage.models import Contact, Conversation, Message, Ticket
from bot.triage import contacts
from tests.conftest import RunningApp, conversation_of, rest_texts


def _sender(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


def _place_in(app: RunningApp, sender: str, region: str) -> None:
    with app.services.db.session() as session:
        session.scalars(select(Conversation).where(Conversation.sender_id == sender)).one().region = region


def _contacts(app: RunningApp, sender: str) -> list[Contact]:
    with app.services.db.session() as session:
        conversation = session.scalars(select(Conversation.id).where(Conversation.sender_id == sender)).one()
        found = list(session.scalars(select(Contact).where(Contact.conversation_id == conversation)
                                     .order_by(Contact.id)))
        session.expunge_all()
        return found


def _inbound(app: RunningApp, sender: str) -> list[Message]:
    with app.services.db.session() as session:
        conversation = session.scalars(select(Conversation.id).where(Conversation.sender_id == sender)).one()
        found = list(session.scalars(select(Message).where(
            Message.conversation_id == conversation, Message.direction == "in").order_by(Message.id)))
        session.expunge_all()
        return found


def _tickets(app: RunningApp, sender: str) -> int:
    conversation = conversation_of(app, sender)
    with app.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(Ticket)
                                  .where(Ticket.conversation_id == conversation.id)) or 0)


# -- non-emergencies ---------------------------------------------------------------------------------
def test_a_water_complaint_is_sent_to_the_centres_water_company_and_closed_without_a_ticket(
    app: RunningApp,
) -> None:
    sender = _sender("pdam")
    [answer] = rest_texts(app, sender, "air pdam mati 3 hari")
    assert answer.startswith("112 hanya untuk keadaan darurat.")
    assert "Perumda Air Minum Tirto Panguripan Kendal" in answer
    assert _tickets(app, sender) == 0
    assert conversation_of(app, sender).closed_at is not None
    [contact] = _contacts(app, sender)
    assert (contact.outcome, contact.target, contact.region) == ("information", "water", "33.24")


def test_the_same_complaint_in_another_centre_gets_that_centres_office(app: RunningApp) -> None:
    sender = _sender("pdam")
    rest_texts(app, sender, "halo")
    _place_in(app, sender, "33.74")
    [answer] = rest_texts(app, sender, "air pdam mati 3 hari")
    assert "Tirta Moedal" in answer and "Tirto Panguripan" not in answer


def test_a_complaint_naming_a_place_goes_to_that_places_centre(app: RunningApp) -> None:
    sender = _sender("sampah")
    [answer] = rest_texts(app, sender, "sampah numpuk di tembalang semarang")
    assert "Dinas Lingkungan Hidup Kota Semarang" in answer
    [contact] = _contacts(app, sender)
    assert (contact.target, contact.region) == ("rubbish", "33.74")


def test_a_topic_without_an_office_of_its_own_goes_to_the_centres_lapor(app: RunningApp) -> None:
    sender = _sender("pju")
    [answer] = rest_texts(app, sender, "lampu jalan mati di depan rumah")
    assert "SP4N-LAPOR! Kabupaten Kendal (lapor.go.id, SMS 1708)" in answer
    assert _contacts(app, sender)[0].target == "default"
    [english] = rest_texts(app, _sender("pln"), "power cut in our area since this morning")
    assert "PLN: call 123" in english and english.startswith("112 is for emergencies only.")


def test_a_street_light_that_fell_and_sparks_is_an_emergency_not_a_complaint(app: RunningApp) -> None:
    sender = _sender("pju")
    answers = rest_texts(app, sender, "lampu jalan jatuh dan nyetrum di jalan raya kaliwungu kendal")
    assert any("112-" in a for a in answers)
    assert _tickets(app, sender) == 1 and conversation_of(app, sender).closed_at is None
    [contact] = _contacts(app, sender)
    assert (contact.outcome, contact.messages, contact.silent) == ("incident", 1, 0)
    assert contact.reported_at is not None and contact.reported_at >= contact.started_at


def test_after_a_complaint_the_same_reporter_can_still_report_a_fire(app: RunningApp) -> None:
    sender = _sender("pdam")
    rest_texts(app, sender, "air pdam mati 3 hari")
    answers = rest_texts(app, sender, "ada kebakaran rumah di desa sumberrejo kendal")
    assert any("112-" in a for a in answers) and _tickets(app, sender) == 1
    complaint, report = _contacts(app, sender)
    assert [c.outcome for c in (complaint, report)] == ["information", "incident"]
    assert (complaint.reported_at, complaint.messages) == (None, 1)
    assert report.reported_at is not None and report.messages == 1


# -- questions about 112 -----------------------------------------------------------------------------
def test_a_question_about_112_gets_the_faq_answer(app: RunningApp) -> None:
    sender = _sender("tanya")
    [answer] = rest_texts(app, sender, "gratis?")
    assert answer.startswith("Menelepon 112 gratis, juga tanpa pulsa.")
    [contact] = _contacts(app, sender)
    assert (contact.outcome, contact.target) == ("information", "faq:cost")
    [purpose] = rest_texts(app, _sender("tanya"), "112 itu buat apa aja?")
    assert purpose.startswith("112 untuk keadaan darurat")


def test_a_centre_answers_a_question_in_its_own_words(app: RunningApp) -> None:
    sender = _sender("tanya")
    rest_texts(app, sender, "halo")
    _place_in(app, sender, "33.74")
    [answer] = rest_texts(app, sender, "buka 24 jam ga")
    assert answer.startswith("Semarang Command Center 112 melayani 24 jam")
    [other] = rest_texts(app, _sender("tanya"), "buka 24 jam ga")
    assert other.startswith("112 melayani 24 jam setiap hari")


# -- the same text again -----------------------------------------------------------------------------
def test_the_same_text_repeated_is_stored_once_with_a_count_and_answered_once(app: RunningApp) -> None:
    sender = _sender("ulang")
    first = rest_texts(app, sender, "Tolong ada kebakaran rumah di desa sumberrejo kendal")
    assert any("112-" in a for a in first)
    for _ in range(4):
        assert rest_texts(app, sender, "tolong ada kebakaran rumah di desa sumberrejo KENDAL!!") == []
    [stored] = _inbound(app, sender)
    assert stored.repeats == 4 and _tickets(app, sender) == 1


def test_two_senders_repeating_in_turn_are_each_counted_on_their_own_first_copy(app: RunningApp) -> None:
    # The ingest reads each sender's newest message with the statement that finds their
    # conversation: never another sender's, whatever was stored in between.
    first, second = _sender("ulang-a"), _sender("ulang-b")
    text = "tolong ada banjir masuk rumah di desa tunggulsari kendal"
    for _ in range(3):
        rest_texts(app, first, text)
        rest_texts(app, second, text)
    rest_texts(app, first, "air sudah sepinggang, kami di lantai dua")
    rest_texts(app, first, text)
    [one, two] = [_inbound(app, sender) for sender in (first, second)]
    assert [m.repeats for m in one] == [2, 0, 0] and [m.repeats for m in two] == [2]


def test_short_answers_given_twice_are_both_understood(app: RunningApp) -> None:
    sender = _sender("ya")
    rest_texts(app, sender, "halo")
    rest_texts(app, sender, "ya")
    rest_texts(app, sender, "ya")
    assert [m.text for m in _inbound(app, sender)] == ["halo", "ya", "ya"]
    assert all(m.processed_at is not None for m in _inbound(app, sender))


def test_a_chain_message_from_many_senders_is_flagged_and_each_copy_understood(app: RunningApp) -> None:
    chain = f"sebarkan ke semua grup: besok ada razia besar di jalan tol, kode {uuid.uuid4().hex[:6]}"
    senders = [_sender("rantai") for _ in range(contacts.CHAIN_SENDERS + 1)]
    for sender in senders:
        assert rest_texts(app, sender, chain) != []  # each sender's first copy is answered
    assert all(m.processed_at is not None for s in senders for m in _inbound(app, s))
    with app.services.db.session() as session:
        found = [c for c in contacts.chains(session, _inbound(app, senders[0])[0].created_at)
                 if c.text == chain]
    assert [c.senders for c in found] == [len(senders)]


# -- silent chats ------------------------------------------------------------------------------------
def test_a_silent_chat_is_answered_once_and_a_real_report_after_it_is_served_at_once(
    app: RunningApp,
) -> None:
    sender = _sender("diam")
    [how] = rest_texts(app, sender, ".")
    assert how.startswith("Ini layanan 112.") and "TOLONG" in how
    for dot in ("[sticker]", ".", "p", "...", ".", "?", ".", "."):  # more than 6 a minute
        assert rest_texts(app, sender, dot) == []
    [contact] = _contacts(app, sender)
    assert (contact.outcome, contact.silent, contact.messages) == ("silent", 9, 9)
    answers = rest_texts(app, sender, "tolong ada orang pingsan di jalan pemuda kendal")
    assert answers and _tickets(app, sender) == 1
    assert _contacts(app, sender)[0].outcome == "incident"


def test_a_dot_during_a_report_goes_to_the_dialogue(app: RunningApp) -> None:
    sender = _sender("diam")
    rest_texts(app, sender, "tolong")
    assert rest_texts(app, sender, ".") != []  # the report asks again; no "how to report"
    assert not any(a.startswith("Ini layanan 112.") for a in rest_texts(app, sender, "."))


def test_an_emoji_or_a_photo_is_not_silent() -> None:
    assert contacts.trivial(".", {}) and contacts.trivial("[sticker]", {}) and contacts.trivial(" ?! ", {})
    assert not contacts.trivial("🔥", {}) and not contacts.trivial("ok", {})
    assert not contacts.trivial("", {"media": ["telegram:abc"]})
    assert not contacts.trivial(".", {"location": {"latitude": -6.9, "longitude": 110.2}})
