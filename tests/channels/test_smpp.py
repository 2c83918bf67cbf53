"""SMS over SMPP: a transceiver bound to a local SMSC, through drops, parts and receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

import channels
from bot.messages import InboundMessage, OutboundMessage
from bot.settings import Settings
from bot.storage.models import Message
from channels import smpp_pdu as wire
from channels.smpp import SmppLink, SmppSender
from channels.sms_text import split_sms
from tests.channels.fake_smsc import FakeSmsc
from tests.conftest import API_TOKEN, RunningApp, eventually, outbox_rows
from tests.e2e.conversation import tickets

REPORTER = "6281234567890"  # international, as the SMSC writes it (TON 1)
LONG_REPORT = (
    "tolong ada kebakaran besar di gudang kayu jl pemuda no 10 kendal, apinya sudah merambat ke "
    "rumah warga di sebelahnya dan asapnya hitam sekali, ada dua orang yang masih terjebak di lantai "
    "dua dan satu orang luka bakar di tangan, warga sudah mencoba memadamkan pakai ember tapi tidak "
    "bisa, tolong kirim damkar dan ambulans secepatnya ya pak, jalan masuknya lewat gang sebelah masjid"
)


def smpp_config(smsc: FakeSmsc) -> dict[str, Any]:
    return {
        "sms_provider": "smpp", "smpp_host": "127.0.0.1", "smpp_port": smsc.port,
        "smpp_system_id": smsc.system_id, "smpp_password": SecretStr(smsc.password),
        "smpp_source_addr": "112", "smpp_throughput": 100.0, "smpp_enquire_link_seconds": 0.5,
        "smpp_response_timeout_seconds": 2.0, "smpp_reconnect_min_seconds": 0.05,
        "smpp_reconnect_max_seconds": 0.3, "smpp_reassembly_seconds": 1.0,
    }


def inbound_texts(app: RunningApp) -> list[str]:
    with app.services.db.session() as session:
        return list(session.scalars(select(Message.text).where(Message.direction == "in")))


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    with FakeSmsc() as fake:
        yield fake


@pytest.fixture
def smpp_app(settings: Settings, smsc: FakeSmsc, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningApp]:
    monkeypatch.setattr(channels, "CHANNEL_MODULES", ("rest", "smpp"))
    configured = settings.model_copy(update={**smpp_config(smsc), "outbox_first_retry_seconds": 0.2})
    with RunningApp(configured) as app:
        eventually(lambda: smsc.bound, "the bind")
        yield app


def test_report_by_sms_over_smpp_creates_a_ticket_and_replies_reach_the_smsc(
    smpp_app: RunningApp, smsc: FakeSmsc
) -> None:
    assert smsc.deliver(REPORTER, "tolong ada kebakaran di jl pemuda no 10 kendal") == 0
    [ticket] = eventually(lambda: tickets(smpp_app.services), "a ticket")
    assert ticket.emergency_type == "fire"
    eventually(lambda: any(ticket.number in text for text in smsc.messages_to(REPORTER)),
               "the reply with the ticket number")
    first = smsc.submits[0]
    assert (first.source, first.dest_ton, first.registered_delivery) == ("112", 1, 1)
    rows = eventually(lambda: [r for r in outbox_rows(smpp_app) if r.status == "sent"], "sent rows")

    assert smsc.receipt(rows[0].provider_message_id or "") == 0
    eventually(lambda: outbox_rows(smpp_app)[0].delivery_status == "delivered", "the receipt recorded")


def test_concatenated_sms_is_reassembled_into_one_report(smpp_app: RunningApp, smsc: FakeSmsc) -> None:
    assert smsc.deliver_parts(REPORTER, LONG_REPORT, parts=3, reference=42, order=[2, 3, 1]) == [0, 0, 0]
    assert eventually(lambda: inbound_texts(smpp_app), "the stored report") == [LONG_REPORT]
    [ticket] = eventually(lambda: tickets(smpp_app.services), "a ticket")
    assert ticket.emergency_type == "fire"


def test_concatenated_sms_missing_a_part_is_still_passed_on(smpp_app: RunningApp, smsc: FakeSmsc) -> None:
    smsc.deliver_parts(REPORTER, LONG_REPORT, parts=3, reference=7, order=[1, 3])
    [text] = eventually(lambda: inbound_texts(smpp_app), "the partial report")
    assert text.startswith(LONG_REPORT[:100]) and "..." in text
    eventually(lambda: tickets(smpp_app.services), "a ticket from the partial report")


def test_link_dropped_rebinds_and_a_reply_pending_during_the_outage_arrives(
    smpp_app: RunningApp, smsc: FakeSmsc
) -> None:
    smsc.deliver(REPORTER, "ada maling masuk rumah saya di jalan melati 4 bantul")
    [ticket] = eventually(lambda: tickets(smpp_app.services), "a ticket")
    # Rows exist once the turn is saved (the ticket comes earlier, in the middle of the turn).
    eventually(lambda: (rows := outbox_rows(smpp_app)) and all(r.status == "sent" for r in rows),
               "the first replies")
    before = len(smsc.messages_to(REPORTER))

    smsc.refusing_binds = True
    attempts = smsc.bind_attempts
    smsc.drop()
    eventually(lambda: smsc.bind_attempts > attempts + 1, "refused re-binds")
    response = httpx.post(f"{smpp_app.url}/api/tickets/{ticket.id}/events", json={"status": "en_route"},
                          headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 201, response.text
    notice = eventually(lambda: [r for r in outbox_rows(smpp_app) if r.kind == "notice" and r.attempts],
                        "a send tried during the outage")[0]
    assert notice.status == "pending" and "SMPP" in (notice.last_error or "")

    smsc.refusing_binds = False
    eventually(lambda: smsc.bound, "the re-bind")
    eventually(lambda: [r for r in outbox_rows(smpp_app) if r.id == notice.id and r.status == "sent"],
               "the notice sent after the re-bind")
    after = smsc.messages_to(REPORTER)[before:]
    assert after[:len(split_sms(notice.text))] == split_sms(notice.text)


class Recorder:
    """Link events kept in memory (the sender tests need no core)."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.receipts: list[wire.Receipt] = []
        self.binds = 0

    async def message(self, message: InboundMessage) -> None:
        self.messages.append(message)

    async def receipt(self, receipt: wire.Receipt) -> None:
        self.receipts.append(receipt)

    async def bound(self) -> None:
        self.binds += 1


async def test_long_reply_goes_out_in_udh_parts_that_reassemble_to_the_text(
    settings: Settings, smsc: FakeSmsc
) -> None:
    config = settings.model_copy(update=smpp_config(smsc))
    link = SmppLink(config)
    running = asyncio.create_task(link.run(Recorder()))
    try:
        assert await link.wait_bound(5)
        text = ("Laporan diterima. Petugas Damkar sedang menuju lokasi. Jauhi api dan asap, "
                "tutup hidung dengan kain basah, jangan kembali masuk ke rumah. ") * 2
        assert 160 < len(text) <= 306
        await SmppSender(link, config).send("+" + REPORTER, OutboundMessage(text.strip()))
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    parts = [s for s in smsc.submits if s.destination == REPORTER]
    assert [p.concat[1:] if p.concat else None for p in parts] == [(2, 1), (2, 2)]
    assert len({p.concat[0] for p in parts if p.concat}) == 1
    assert all(p.esm_class == 0x40 and p.data_coding == 0 for p in parts)
    assert smsc.messages_to(REPORTER) == [text.strip()]


async def test_send_while_the_link_is_down_is_a_retryable_failure(settings: Settings, smsc: FakeSmsc) -> None:
    from bot.delivery.outbox import DeliveryError

    config = settings.model_copy(update=smpp_config(smsc))
    with pytest.raises(DeliveryError) as failure:
        await SmppSender(SmppLink(config), config).send("+" + REPORTER, OutboundMessage("halo"))
    assert failure.value.retryable


# -- wire format ------------------------------------------------------------------------------
def test_bind_transceiver_pdu_matches_the_specification_layout() -> None:
    body = wire.bind_transceiver_body("sigap", "pw", "", ton=1, npi=1)
    pdu = wire.Pdu(wire.Command.BIND_TRANSCEIVER, 1, body=body).encode()
    assert pdu.hex() == ("0000001e" "00000009" "00000000" "00000001"
                         "736967617000" "707700" "00" "34" "01" "01" "00")


def test_gsm7_alphabet_positions_and_extension_escapes() -> None:
    assert len(wire.GSM7_BASIC) == 128
    assert wire.gsm7_encode("@£$_ä") == bytes([0x00, 0x01, 0x02, 0x11, 0x7B])
    assert wire.gsm7_encode("€[") == bytes([0x1B, 0x65, 0x1B, 0x3C])
    assert wire.gsm7_decode(wire.gsm7_encode("Jl. Pemuda {10} ~ ok")) == "Jl. Pemuda {10} ~ ok"
    with pytest.raises(ValueError):
        wire.gsm7_encode("ꦱ")


def test_ucs2_parts_never_split_a_surrogate_pair_and_gsm_parts_never_split_an_escape() -> None:
    coding, parts = wire.split_user_data("🚒" * 80, reference=9)
    assert coding == wire.DataCoding.UCS2
    assert "".join(p[6:].decode("utf-16-be") for p in parts) == "🚒" * 80
    coding, parts = wire.split_user_data("a" * 152 + "€" * 10, reference=9)
    assert coding == wire.DataCoding.DEFAULT
    assert "".join(wire.gsm7_decode(p[6:]) for p in parts) == "a" * 152 + "€" * 10


def test_delivery_receipts_are_read_from_tlvs_or_text() -> None:
    text = b"id:0A1B2C sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:UNDELIV err:001"
    by_text = wire.ShortMessage("628", "112", text, esm_class=0x04)
    assert wire.parse_receipt(by_text) == wire.Receipt("0A1B2C", "undelivered")
    by_tlv = wire.ShortMessage("628", "112", b"", esm_class=0x04, tlvs={
        wire.Tag.RECEIPTED_MESSAGE_ID: b"77\0", wire.Tag.MESSAGE_STATE: bytes([2])})
    decoded = wire.ShortMessage.decode(by_tlv.encode())
    assert decoded.is_receipt and wire.parse_receipt(decoded) == wire.Receipt("77", "delivered")


def test_sar_tlvs_mark_parts_like_a_udh_does() -> None:
    part = wire.ShortMessage("628", "112", b"abc", tlvs={
        wire.Tag.SAR_MSG_REF_NUM: (300).to_bytes(2, "big"), wire.Tag.SAR_TOTAL_SEGMENTS: b"\x02",
        wire.Tag.SAR_SEGMENT_SEQNUM: b"\x01"})
    assert wire.concat_info(part) == (wire.Concat(300, 2, 1), b"abc")
