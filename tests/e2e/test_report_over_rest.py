"""A report by the REST channel becomes a routed, dispatched ticket."""

from __future__ import annotations

import httpx

from bot.storage.models import Message, Ticket
from tests.conftest import RunningApp, conversation_of
from tests.e2e.conversation import (
    Reporter,
    count,
    dispatched_agencies,
    inbound_count,
    tickets,
)


def test_one_message_report_creates_one_ticket_with_type_place_and_agencies(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "u1").say("tolong ada kebakaran di jl pemuda no 10 kendal")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "fire"
    assert ticket.location_text == "jl pemuda no 10 kendal"
    assert ticket.agencies[0] == "fire_rescue"
    assert dispatched_agencies(running_app.services, ticket.id) == set(ticket.agencies)
    assert any(ticket.number in reply for reply in replies)
    assert any("Damkar" in reply for reply in replies)
    # The place was given, so no question asks for it; fire guidance follows the ticket.
    assert not any("lokasi" in reply.lower() for reply in replies)
    assert replies[0].startswith("Laporan diterima")
    assert any("Keluar" in reply for reply in replies[1:])


def test_the_readme_curl_works_although_curl_labels_the_json_as_a_form(
    client: httpx.Client, running_app: RunningApp
) -> None:
    # `curl -X POST URL -d '{...}'` sends Content-Type: application/x-www-form-urlencoded.
    body = b'{"sender":"u1","message":"tolong ada kebakaran di jl pemuda no 10 kendal"}'
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = client.post("/webhooks/rest/webhook", content=body, headers=form)
    assert response.status_code == 200, response.text
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "fire"
    assert any(ticket.number in m["text"] for m in response.json())
    refused = client.post("/webhooks/rest/webhook", content=b"sender=u1&message=api", headers=form)
    assert refused.status_code == 422
    assert inbound_count(running_app.services) == 1


def test_report_in_two_turns_updates_the_same_ticket(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "u2")
    first = reporter.say("tolong ada kecelakaan motor, orangnya tergeletak di jalan")
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "traffic_accident"
    assert ticket.location_text is None
    assert "lokasi" in first[-1].lower()
    reporter.say("di perempatan tugu muda semarang depan lawang sewu")
    [updated] = tickets(running_app.services)
    assert updated.id == ticket.id
    assert updated.location_text and "tugu muda" in updated.location_text
    final = reporter.say("iya ada dua orang luka")
    [done] = tickets(running_app.services)
    assert done.people_injured
    # First aid for the injured goes on; no closing "thank you" while it does.
    assert final and not any("terima kasih" in reply.lower() for reply in final)


def test_english_report_gets_english_replies(
    client: httpx.Client, running_app: RunningApp
) -> None:
    replies = Reporter(client, "tourist").say(
        "Help, there is a fire in the villa next to Jalan Monkey Forest in Ubud"
    )
    [ticket] = tickets(running_app.services)
    assert ticket.emergency_type == "fire"
    assert ticket.language == "en"
    assert any("Report received" in reply for reply in replies)
    assert not any("Laporan" in reply for reply in replies)


def test_duplicate_message_id_is_processed_once(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "u3")
    metadata = {"message_id": "wamid-77"}
    first = reporter.say("banjir setinggi dada di perumahan griya indah bekasi", **metadata)
    again = reporter.say("banjir setinggi dada di perumahan griya indah bekasi", **metadata)
    assert again == first
    assert inbound_count(running_app.services) == 1
    assert len(tickets(running_app.services)) == 1
    with running_app.services.db.session() as session:
        assert session.query(Message).filter_by(direction="out").count() == len(first)


def test_dispatcher_status_update_reaches_reporter_in_their_language(
    client: httpx.Client, running_app: RunningApp
) -> None:
    english = Reporter(client, "en-reporter")
    english.say("my neighbour collapsed and is not breathing, we are at Jalan Kaliurang km 5")
    [ticket] = tickets(running_app.services)
    headers = {"Authorization": "Bearer test-dispatcher-token"}
    response = client.post(
        f"/api/tickets/{ticket.id}/events", json={"status": "en_route"}, headers=headers
    )
    assert response.status_code == 201, response.text
    assert "on the way" in response.json()["told_reporter"]
    # The REST channel cannot push: the update comes with the reporter's next answer.
    replies = english.say("ok thank you")
    assert any("help is on the way" in reply for reply in replies)
    detail = client.get(f"/api/tickets/{ticket.id}", headers=headers).json()
    assert detail["status"] == "en_route"
    assert [e["status"] for e in detail["history"] if e["kind"] == "status"] == ["en_route"]


def test_status_question_tells_the_ticket_status(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "u4")
    reporter.say("ada maling masuk rumah saya di jalan melati 4 bantul")
    replies = reporter.say("petugasnya sudah jalan belum?")
    [ticket] = tickets(running_app.services)
    assert any(ticket.number in reply for reply in replies)


def test_cancel_asks_for_confirmation_then_cancels(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "u5")
    reporter.say("pohon tumbang menutup jalan di jl diponegoro ungaran")
    ask = reporter.say("batalkan laporan saya, sudah dibersihkan warga")
    [ticket] = tickets(running_app.services)
    assert ticket.status == "new"
    assert any("YA atau TIDAK" in reply for reply in ask)
    reporter.say("ya")
    [cancelled] = tickets(running_app.services)
    assert cancelled.status == "cancelled"
    assert "cancelled" in {
        i["change"] for i in _dispatch_payloads(running_app, cancelled.id)
    } or "status" in {i["change"] for i in _dispatch_payloads(running_app, cancelled.id)}


def _dispatch_payloads(running_app: RunningApp, ticket_id: int) -> list[dict]:
    from bot.storage.models import DispatchItem

    with running_app.services.db.session() as session:
        return [i.payload for i in session.query(DispatchItem).filter_by(ticket_id=ticket_id)]


def test_gps_pin_fills_the_location(client: httpx.Client, running_app: RunningApp) -> None:
    reporter = Reporter(client, "u6")
    reporter.say("tolong ada kebakaran rumah")
    reporter.say("", location={"latitude": -6.9932, "longitude": 110.4203})
    [ticket] = tickets(running_app.services)
    assert ticket.location["source"] == "gps"
    assert abs(ticket.location["lat"] - -6.9932) < 1e-6
    assert ticket.location["admin"]["regency"]


def test_bad_request_bodies_get_4xx_and_store_nothing(
    client: httpx.Client, running_app: RunningApp
) -> None:
    bad_bodies = [
        b"not json",
        b'{"message": "kebakaran"}',
        b'{"sender": "", "message": "kebakaran"}',
        b'{"sender": "x", "message": 5}',
        b'{"sender": "x", "message": "   "}',
        b'{"sender": "x", "message": "' + b"a" * 5000 + b'"}',
        b'{"sender": "x", "message": "hi", "metadata": {"location": {"latitude": 200}}}',
        b"[]",
    ]
    for body in bad_bodies:
        response = client.post(
            "/webhooks/rest/webhook", content=body, headers={"Content-Type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (body[:40], response.status_code)
    huge = client.post("/webhooks/rest/webhook", content=b"{" + b" " * 300_000 + b"}",
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert inbound_count(running_app.services) == 0
    assert count(running_app.services, Ticket) == 0


def test_dispatch_api_refuses_requests_without_a_valid_token(
    client: httpx.Client, running_app: RunningApp
) -> None:
    Reporter(client, "u7").say("ada orang tenggelam di sungai progo dekat jembatan bantar")
    [ticket] = tickets(running_app.services)
    assert client.get("/api/tickets").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post(f"/api/tickets/{ticket.id}/events", json={"status": "resolved"},
                       headers=wrong).status_code == 401
    assert tickets(running_app.services)[0].status == "new"


def test_no_one_hurt_is_a_no_on_the_ticket_though_the_words_name_an_injury(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporter = Reporter(client, "tidak-luka")
    reporter.say("kebakaran rumah di desa sumberrejo kendal")
    reporter.say("tidak ada yang luka")
    mine = conversation_of(running_app, "tidak-luka").id
    [ticket] = [t for t in tickets(running_app.services) if t.conversation_id == mine]
    assert ticket.people_injured == "tidak"
    other = Reporter(client, "masih-luka")
    other.say("kebakaran rumah di desa kaliwungu kendal")
    other.say("ada yang luka bakar di tangan")
    theirs = conversation_of(running_app, "masih-luka").id
    [hurt] = [t for t in tickets(running_app.services) if t.conversation_id == theirs]
    assert hurt.people_injured not in (None, "tidak")


def test_a_report_whose_place_comes_later_joins_the_incident_already_reported_there(
    client: httpx.Client, running_app: RunningApp
) -> None:
    Reporter(client, "near").say("tolong ada kecelakaan motor di perempatan tugu muda semarang")
    late = Reporter(client, "late")
    first = late.say("tolong ada kecelakaan motor, orangnya tergeletak di jalan")
    assert "lokasi" in first[-1].lower()
    [near, alone] = tickets(running_app.services)
    assert near.incident_id != alone.incident_id
    replies = late.say("di perempatan tugu muda semarang")
    # No apology of a failed turn: the update went through.
    assert replies and not any("akan dibaca operator" in reply for reply in replies)
    [near, joined] = tickets(running_app.services)
    assert joined.id == alone.id and joined.incident_id == near.incident_id
