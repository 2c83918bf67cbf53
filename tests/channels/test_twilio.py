"""SMS and WhatsApp through Twilio: signed webhooks in, the real twilio client out to a local API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

import channels
from bot.delivery.outbox import DeliveryError
from bot.messages import OutboundMessage
from bot.settings import Settings
from bot.storage.models import Message, OutboxMessage
from channels.gsm7 import is_gsm7, segments, to_gsm7
from channels.sms_text import split_sms as sms_parts
from channels.twilio_common import STATUS_PATH, TwilioAccount
from channels.twilio_sms import SmsSender
from tests.channels import fake_twilio
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, WHATSAPP_FROM, FakeTwilio
from tests.conftest import RunningApp, eventually
from tests.e2e.conversation import inbound_count, tickets

REPORTER = "+6281234567890"
SMS_PATH = "/webhooks/twilio/sms"
WHATSAPP_PATH = "/webhooks/twilio/whatsapp"
PUBLIC_URL = "http://testserver"  # the settings fixture's: Twilio signs PUBLIC_URL + path


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def app(settings: Settings, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("rest", "twilio_sms", "twilio_whatsapp"))
    configured = settings.model_copy(update={
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_sms_from": SMS_FROM, "twilio_whatsapp_from": WHATSAPP_FROM,
        "twilio_api_url": twilio.url, "outbox_first_retry_seconds": 0.05,
    })
    with RunningApp(configured) as running:
        yield running


class Phone:
    """A reporter texting Sigap's Twilio number; Twilio signs and posts each message."""

    def __init__(self, app: RunningApp, path: str, sender: str, **fields: str) -> None:
        self.app, self.path, self.sender, self.fields = app, path, sender, fields

    def post(self, form: dict[str, str], signed_with: str | None = AUTH_TOKEN) -> httpx.Response:
        return fake_twilio.post(self.app.url, PUBLIC_URL, self.path, form, signed_with)

    def send(self, body: str, sid: str | None = None, **fields: str) -> None:
        """Text Sigap and wait until the replies have left."""
        form = fake_twilio.inbound(self.sender, body, sid, **{**self.fields, **fields})
        response = self.post(form)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text.endswith("<Response/>")
        settle(self.app)


def settle(app: RunningApp) -> None:
    """Wait until every stored message is processed and every reply handed to Twilio."""
    def done() -> bool:
        with app.services.db.session() as session:
            unprocessed = session.scalar(select(func.count()).select_from(Message).where(
                Message.direction == "in", Message.processed_at.is_(None)))
            unsent = session.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == "pending", OutboxMessage.kind != "reminder"))
            return unprocessed == 0 and unsent == 0
    eventually(done, "messages processed and replies sent")


def replies(app: RunningApp) -> list[Message]:
    with app.services.db.session() as session:
        return list(session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.id)))


def outbox(app: RunningApp) -> list[OutboxMessage]:
    with app.services.db.session() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_report_by_sms_gets_gsm7_replies_in_order_and_the_sms_location_question(
    app: RunningApp, twilio: FakeTwilio
) -> None:
    phone = Phone(app, SMS_PATH, REPORTER)
    phone.send("tolong ada kecelakaan motor, orangnya tergeletak di jalan")
    # Answer the bot's questions ("Balas YA atau TIDAK") until it asks where.
    for _turn in range(5):
        asked = [b for b in twilio.bodies_to(REPORTER) if b.startswith("Di mana lokasinya?")]
        if asked:
            break
        phone.send("tidak")
    assert asked, twilio.bodies_to(REPORTER)
    assert "Tulis nama jalan" in asked[0] and "pin" not in asked[0].lower()
    phone.send("di perempatan tugu muda semarang depan lawang sewu")
    [ticket] = tickets(app.services)
    assert ticket.emergency_type == "traffic_accident"
    assert ticket.location_text and "tugu muda" in ticket.location_text

    bodies = twilio.bodies_to(REPORTER)
    assert bodies == [part for reply in replies(app) for part in sms_parts(reply.text)]
    assert all(is_gsm7(body) and segments(body) <= 2 for body in bodies)
    assert any(ticket.number in body for body in bodies)
    assert {m["From"] for m in twilio.sent} == {SMS_FROM}
    assert {m["StatusCallback"] for m in twilio.sent} == {PUBLIC_URL + STATUS_PATH}
    metrics = httpx.get(f"{app.url}/metrics").text
    assert 'sigap_sms_segments_total{channel="sms"}' in metrics


def test_report_by_whatsapp_with_a_location_pin_locates_the_ticket_by_gps(
    app: RunningApp, twilio: FakeTwilio
) -> None:
    phone = Phone(app, WHATSAPP_PATH, "whatsapp:" + REPORTER, To=WHATSAPP_FROM, ProfileName="Sari")
    phone.send("tolong ada kecelakaan motor, orangnya tergeletak di jalan")
    phone.send("", MessageType="location", Latitude="-6.9932", Longitude="110.4203")
    [ticket] = tickets(app.services)
    assert ticket.emergency_type == "traffic_accident"
    assert ticket.location["source"] == "gps"
    assert abs(ticket.location["lat"] - -6.9932) < 1e-6
    bodies = twilio.bodies_to("whatsapp:" + REPORTER)
    assert bodies == [reply.text for reply in replies(app)]
    assert {m["From"] for m in twilio.sent} == {WHATSAPP_FROM}


def test_a_photo_is_kept_as_a_ticket_attachment(app: RunningApp) -> None:
    photo = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/ME1"
    phone = Phone(app, WHATSAPP_PATH, "whatsapp:" + REPORTER, To=WHATSAPP_FROM)
    phone.send("tolong ada kebakaran di jl pemuda no 10 kendal", NumMedia="1", MediaUrl0=photo,
               MediaContentType0="image/jpeg", MessageType="image")
    [ticket] = tickets(app.services)
    assert ticket.attachments == [photo]


def test_forged_or_missing_signatures_are_refused_and_nothing_is_stored(app: RunningApp) -> None:
    form = fake_twilio.inbound(REPORTER, "ada kebakaran di pasar kendal")
    for path in (SMS_PATH, WHATSAPP_PATH):
        phone = Phone(app, path, REPORTER)
        assert phone.post(form, signed_with="0" * 32).status_code == 403
        assert phone.post(form, signed_with=None).status_code == 403
    # A genuine signature over other fields does not cover a changed body.
    signed = fake_twilio.signature(PUBLIC_URL, SMS_PATH, form)
    tampered = httpx.post(app.url + SMS_PATH, data={**form, "Body": "prank"},
                          headers={"X-Twilio-Signature": signed})
    assert tampered.status_code == 403
    status = Phone(app, STATUS_PATH, REPORTER).post(
        {"MessageSid": "SM1", "MessageStatus": "delivered"}, signed_with="0" * 32)
    assert status.status_code == 403
    assert inbound_count(app.services) == 0
    # Signed but without From or MessageSid: a bad request, nothing stored either.
    assert Phone(app, SMS_PATH, REPORTER).post({**form, "From": ""}).status_code == 400
    assert Phone(app, SMS_PATH, REPORTER).post({**form, "MessageSid": ""}).status_code == 400
    assert inbound_count(app.services) == 0


def test_a_retried_webhook_is_stored_and_answered_once(app: RunningApp, twilio: FakeTwilio) -> None:
    phone = Phone(app, SMS_PATH, REPORTER)
    phone.send("banjir setinggi dada di perumahan griya indah bekasi", sid="SM" + "7" * 32)
    first = list(twilio.sent)
    phone.send("banjir setinggi dada di perumahan griya indah bekasi", sid="SM" + "7" * 32)
    assert inbound_count(app.services) == 1
    assert first and twilio.sent == first


def test_a_reply_is_retried_after_twilio_errors_and_delivered_once(
    app: RunningApp, twilio: FakeTwilio
) -> None:
    twilio.fail(2)
    Phone(app, SMS_PATH, REPORTER).send("tolong ada kebakaran rumah di jl pemuda no 10 kendal")
    rows = outbox(app)
    assert rows[0].status == "sent" and rows[0].attempts == 3
    assert all(row.status == "sent" and row.attempts == 1 for row in rows[1:])
    bodies = twilio.bodies_to(REPORTER)
    assert bodies == [part for reply in replies(app) for part in sms_parts(reply.text)]
    assert twilio.requests == len(bodies) + 2


def test_a_status_callback_records_the_delivery(app: RunningApp, twilio: FakeTwilio) -> None:
    Phone(app, SMS_PATH, REPORTER).send("ada pohon tumbang menutup jalan di jl diponegoro ungaran")
    row = outbox(app)[-1]
    assert row.provider_message_id == twilio.sent[-1]["Sid"]
    callback = {"AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "From": SMS_FROM,
                "To": REPORTER, "MessageSid": row.provider_message_id, "SmsSid": row.provider_message_id,
                "MessageStatus": "delivered", "SmsStatus": "delivered"}
    response = Phone(app, STATUS_PATH, REPORTER).post(callback)
    assert response.status_code == 200
    assert outbox(app)[-1].delivery_status == "delivered"


def test_two_messages_of_one_sender_posted_together_are_processed_in_order(
    app: RunningApp, twilio: FakeTwilio
) -> None:
    phone = Phone(app, SMS_PATH, REPORTER)
    forms = [fake_twilio.inbound(REPORTER, text) for text in
             ("tolong ada kecelakaan motor di jalan", "di perempatan tugu muda semarang")]
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(phone.post, forms))
    assert [r.status_code for r in responses] == [200, 200]
    settle(app)
    with app.services.db.session() as session:
        inbound = list(session.scalars(
            select(Message).where(Message.direction == "in").order_by(Message.id)))
    assert len(inbound) == 2
    assert inbound[0].processed_at and inbound[1].processed_at
    assert inbound[0].processed_at <= inbound[1].processed_at
    # Every reply to the first stored message comes before any reply to the second.
    answered = [reply.reply_to_id for reply in replies(app)]
    assert answered and answered == sorted(answered) and answered[0] == inbound[0].id
    assert twilio.bodies_to(REPORTER) == [p for reply in replies(app) for p in sms_parts(reply.text)]


LONG_REPLY = (
    "Tetap tenang 🙏 dan jauhi asap. Jika memungkinkan, matikan listrik dari meteran dan tutup "
    "katup gas. Jangan kembali ke dalam rumah untuk mengambil barang apa pun – nyawa lebih penting. "
    "Bila ada orang terjebak, beri tahu petugas Damkar berapa orang dan di lantai mana mereka "
    "berada.\nTutup hidung dan mulut dengan kain basah, merangkaklah di bawah asap karena udara "
    "bersih ada di dekat lantai, dan raba pintu dengan punggung tangan sebelum membukanya: pintu "
    "yang panas berarti api ada di baliknya. Tunggu petugas di tempat aman, jauh dari bangunan, "
    "dan jangan menghalangi jalan mobil pemadam yang datang ke lokasi kejadian di [RT 03/RW 05]."
)


def test_a_long_reply_splits_into_gsm7_sms_of_at_most_two_segments_without_losing_words() -> None:
    parts = sms_parts(LONG_REPLY)
    assert len(parts) >= 3
    assert all(is_gsm7(part) and segments(part) <= 2 and len(part) <= 306 for part in parts)
    assert " ".join(parts).split() == to_gsm7(LONG_REPLY).split()
    # Cut between sentences where one fits: every part but the last ends a sentence.
    assert all(part.endswith((".", ":", "!", "?")) for part in parts[:-1])


def test_a_sentence_longer_than_two_segments_is_cut_between_words() -> None:
    sentence = " ".join(["petugas"] * 100) + "."
    parts = sms_parts(sentence)
    assert all(segments(part) <= 2 for part in parts)
    assert all(set(part.split()) <= {"petugas", "petugas."} for part in parts)
    assert " ".join(parts).split() == sentence.split()
    # A single "word" longer than an SMS (a link) has to be cut, but nothing is dropped.
    link = "https://maps.example/" + "x" * 400
    assert "".join(sms_parts(link)) == link


async def test_a_split_reply_resumes_after_the_part_already_sent(twilio: FakeTwilio) -> None:
    account = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, twilio.url)
    sender = SmsSender(account, SMS_FROM)
    parts = sms_parts(LONG_REPLY)
    twilio.fail(1, after=1)
    with pytest.raises(DeliveryError) as failed:
        await sender.send(REPORTER, OutboundMessage(LONG_REPLY))
    assert failed.value.retryable
    assert twilio.bodies_to(REPORTER) == parts[:1]
    sid = await sender.send(REPORTER, OutboundMessage(LONG_REPLY))
    assert twilio.bodies_to(REPORTER) == parts
    assert sid == twilio.sent[-1]["Sid"]


async def test_refused_credentials_are_final_and_an_unreachable_api_is_retried(
    twilio: FakeTwilio,
) -> None:
    wrong = TwilioAccount(ACCOUNT_SID, "not-the-token", PUBLIC_URL, twilio.url)
    with pytest.raises(DeliveryError) as refused:
        await SmsSender(wrong, SMS_FROM).send(REPORTER, OutboundMessage("tes"))
    assert not refused.value.retryable and "401" in str(refused.value)
    closed = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, "http://127.0.0.1:9")
    with pytest.raises(DeliveryError) as unreachable:
        await SmsSender(closed, SMS_FROM).send(REPORTER, OutboundMessage("tes"))
    assert unreachable.value.retryable


async def test_replies_go_through_the_proxy_the_environment_names_unless_no_proxy_exempts_the_host(
    twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The proxy settings are read once, with the client: a deployment behind a proxy reaches
    # Twilio through it. Here the stand-in plays the proxy of a host that does not resolve.
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", twilio.url)
    behind = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, "http://api.twilio.invalid")
    await SmsSender(behind, SMS_FROM).send(REPORTER, OutboundMessage("lewat proxy"))
    assert twilio.bodies_to(REPORTER) == ["lewat proxy"]
    monkeypatch.setenv("NO_PROXY", "api.twilio.invalid")
    with pytest.raises(DeliveryError) as direct:  # straight to a host that does not resolve
        await SmsSender(behind, SMS_FROM).send(REPORTER, OutboundMessage("langsung"))
    assert direct.value.retryable
    assert twilio.bodies_to(REPORTER) == ["lewat proxy"]


@pytest.mark.parametrize(("whatsapp", "expected"), [
    (WHATSAPP_FROM, ["sms", "whatsapp"]), (None, ["sms"]),
])
def test_the_status_route_is_mounted_once_whichever_channels_are_configured(
    whatsapp: str | None, expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("twilio_sms", "twilio_whatsapp"))
    configured = Settings(
        _env_file=None,  # type: ignore[call-arg]
        twilio_account_sid=ACCOUNT_SID, twilio_auth_token=SecretStr(AUTH_TOKEN),
        twilio_sms_from=SMS_FROM, twilio_whatsapp_from=whatsapp,
    )
    found = channels.plugins(configured)
    assert [plugin.name for plugin in found] == expected
    paths = [getattr(route, "path", "") for plugin in found for route in plugin.router.routes]
    assert paths.count(STATUS_PATH) == 1
    unconfigured = Settings(_env_file=None, twilio_sms_from=SMS_FROM)  # type: ignore[call-arg]
    assert channels.plugins(unconfigured) == []


def test_a_status_update_after_the_24_hour_window_goes_as_the_approved_template(
    settings: Settings, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from bot.storage.models import utcnow

    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("rest", "twilio_whatsapp"))
    configured = settings.model_copy(update={
        "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_whatsapp_from": WHATSAPP_FROM, "twilio_api_url": twilio.url,
        "outbox_first_retry_seconds": 0.05,
        "twilio_whatsapp_templates": {"status_en_route:id": "HXenroute-id",
                                      "status_en_route:en": "HXenroute-en"},
    })
    with RunningApp(configured) as app:
        phone = Phone(app, WHATSAPP_PATH, "whatsapp:" + REPORTER, To=WHATSAPP_FROM)
        phone.send("tolong ada kebakaran di jl pemuda 10 kendal")
        [ticket] = tickets(app.services)
        with app.services.db.session() as session:  # the reporter last wrote 25 hours ago
            for message in session.scalars(select(Message).where(Message.direction == "in")):
                message.created_at = utcnow() - timedelta(hours=25)
        headers = {"Authorization": "Bearer test-dispatcher-token"}
        assert httpx.post(f"{app.url}/api/tickets/{ticket.id}/events", json={"status": "en_route"},
                          headers=headers, timeout=30).status_code == 201
        sent = eventually(lambda: [m for m in twilio.sent if m.get("ContentSid")], "the template sent")
        assert sent[0]["ContentSid"] == "HXenroute-id"
        assert json.loads(sent[0]["ContentVariables"]) == {"1": ticket.number}
        assert "Body" not in sent[0]
