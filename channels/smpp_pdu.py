"""SMPP 3.4 wire format for an ESME transceiver: PDUs, short message codings, concatenation.

Only what Sigap needs: bind_transceiver, enquire_link, submit_sm, deliver_sm, unbind and
generic_nack (each with its response). Source: SMPP v3.4 specification (issue 1.2), sections
3 (PDU format), 4 (PDU definitions), 5.2 (parameters) and 5.3 (TLVs); 3GPP TS 23.040 9.2.3.24
for the concatenation header (UDH) and TS 23.038 for the GSM 7-bit default alphabet.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from dataclasses import dataclass, field
from enum import IntEnum

from channels.gsm7 import GSM7_BASIC

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
# No PDU Sigap exchanges comes near this; a larger length means a corrupt stream.
MAX_PDU_LENGTH = 64 * 1024
MAX_SEQUENCE = 0x7FFFFFFF
INTERFACE_VERSION = 0x34


class Command(IntEnum):
    """command_id values (SMPP 3.4, 5.1.2.1)."""

    GENERIC_NACK = 0x80000000
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    """command_status values Sigap acts on (SMPP 3.4, 5.1.3)."""

    OK = 0x00
    INVALID_COMMAND_ID = 0x03
    SYSTEM_ERROR = 0x08
    BIND_FAILED = 0x0D
    MESSAGE_QUEUE_FULL = 0x14
    SUBMIT_FAILED = 0x45
    THROTTLED = 0x58
    TEMPORARY_APP_ERROR = 0x64
    PERMANENT_APP_ERROR = 0x65


# Statuses after which the same submit_sm may succeed later.
RETRYABLE_STATUSES = frozenset({
    Status.SYSTEM_ERROR, Status.MESSAGE_QUEUE_FULL, Status.SUBMIT_FAILED, Status.THROTTLED,
    Status.TEMPORARY_APP_ERROR,
})


class Tag(IntEnum):
    """TLV tags Sigap reads (SMPP 3.4, 5.3.2)."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class DataCoding(IntEnum):
    """data_coding values (SMPP 3.4, 5.2.19)."""

    DEFAULT = 0x00  # the SMSC default alphabet: GSM 03.38, one septet per octet
    IA5 = 0x01
    LATIN1 = 0x03
    UCS2 = 0x08


ESM_UDHI = 0x40  # the short message starts with a user data header
ESM_TYPE_MASK = 0x3C
ESM_DELIVERY_RECEIPT = 0x04
ESM_INTERMEDIATE_NOTIFICATION = 0x20


class PduError(ValueError):
    """Bytes that are not a valid PDU."""


@dataclass(frozen=True)
class Pdu:
    """One SMPP PDU: header fields and the undecoded body."""

    command_id: int
    sequence: int
    status: int = 0
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        """True for *_resp and generic_nack."""
        return bool(self.command_id & 0x80000000)

    def encode(self) -> bytes:
        """The PDU on the wire."""
        return HEADER.pack(HEADER.size + len(self.body), self.command_id, self.status,
                           self.sequence) + self.body

    def response(self, status: int = Status.OK, body: bytes = b"") -> Pdu:
        """The response to this request."""
        return Pdu(self.command_id | 0x80000000, self.sequence, status, body)


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    """Read one PDU; IncompleteReadError when the peer closed the link."""
    header = await reader.readexactly(HEADER.size)
    length, command_id, status, sequence = HEADER.unpack(header)
    if not HEADER.size <= length <= MAX_PDU_LENGTH:
        raise PduError(f"command_length {length} out of range")
    body = await reader.readexactly(length - HEADER.size)
    return Pdu(command_id, sequence, status, body)


def c_string(value: str, max_length: int = 255) -> bytes:
    """A NUL-terminated ASCII field."""
    raw = value.encode("ascii")
    if len(raw) >= max_length:
        raise ValueError(f"{value!r} is longer than {max_length - 1} characters")
    return raw + b"\0"


class _Fields:
    """Reads the fields of a PDU body in order, with bounds checks."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.offset = 0

    def c_string(self) -> str:
        end = self.body.find(b"\0", self.offset)
        if end < 0:
            raise PduError("unterminated C-octet string")
        value = self.body[self.offset:end].decode("latin-1")
        self.offset = end + 1
        return value

    def integer(self) -> int:
        return self.octets(1)[0]

    def octets(self, count: int) -> bytes:
        if self.offset + count > len(self.body):
            raise PduError("body shorter than its fields")
        value = self.body[self.offset:self.offset + count]
        self.offset += count
        return value

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.offset < len(self.body):
            tag, length = struct.unpack(">HH", self.octets(4))
            found[tag] = self.octets(length)
        return found


def bind_transceiver_body(
    system_id: str, password: str, system_type: str = "", ton: int = 0, npi: int = 0,
    address_range: str = "",
) -> bytes:
    """Body of bind_transceiver (4.1.5)."""
    return (c_string(system_id, 16) + c_string(password, 9) + c_string(system_type, 13)
            + bytes([INTERFACE_VERSION, ton, npi]) + c_string(address_range, 41))


def message_id_body(message_id: str) -> bytes:
    """Body of submit_sm_resp / deliver_sm_resp: a message id."""
    return c_string(message_id, 65)


def parse_message_id(body: bytes) -> str:
    """The message id of a submit_sm_resp (empty when the SMSC sent no body)."""
    return _Fields(body).c_string() if body else ""


@dataclass(frozen=True)
class ShortMessage:
    """The body shared by submit_sm and deliver_sm (4.4.1, 4.6.1)."""

    source_addr: str
    destination_addr: str
    short_message: bytes
    source_ton: int = 0
    source_npi: int = 0
    dest_ton: int = 0
    dest_npi: int = 0
    esm_class: int = 0
    data_coding: int = DataCoding.DEFAULT
    registered_delivery: int = 0
    service_type: str = ""
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        """The PDU body."""
        if len(self.short_message) > 254:
            raise ValueError("short_message longer than 254 octets")
        body = (
            c_string(self.service_type, 6)
            + bytes([self.source_ton, self.source_npi]) + c_string(self.source_addr, 21)
            + bytes([self.dest_ton, self.dest_npi]) + c_string(self.destination_addr, 21)
            # esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period
            + bytes([self.esm_class, 0, 0]) + b"\0" + b"\0"
            # registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
            + bytes([self.registered_delivery, 0, self.data_coding, 0])
            + bytes([len(self.short_message)]) + self.short_message
        )
        for tag, value in self.tlvs.items():
            body += struct.pack(">HH", tag, len(value)) + value
        return body

    @classmethod
    def decode(cls, body: bytes) -> ShortMessage:
        """Parse a submit_sm or deliver_sm body."""
        fields = _Fields(body)
        service_type = fields.c_string()
        source_ton, source_npi, source = fields.integer(), fields.integer(), fields.c_string()
        dest_ton, dest_npi, destination = fields.integer(), fields.integer(), fields.c_string()
        esm_class = fields.integer()
        fields.octets(2)  # protocol_id, priority_flag
        fields.c_string(), fields.c_string()  # schedule_delivery_time, validity_period
        registered_delivery = fields.integer()
        fields.integer()  # replace_if_present_flag
        data_coding = fields.integer()
        fields.integer()  # sm_default_msg_id
        short_message = fields.octets(fields.integer())
        return cls(source, destination, short_message, source_ton, source_npi, dest_ton, dest_npi,
                   esm_class, data_coding, registered_delivery, service_type, fields.tlvs())

    @property
    def user_data(self) -> bytes:
        """The message octets: short_message, or the message_payload TLV when that is used."""
        return self.short_message or self.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")

    @property
    def is_receipt(self) -> bool:
        """A delivery receipt or an intermediate notification rather than a reporter's text."""
        kind = self.esm_class & ESM_TYPE_MASK
        return kind in (ESM_DELIVERY_RECEIPT, ESM_INTERMEDIATE_NOTIFICATION)


# -- text codings ---------------------------------------------------------------------------
# Extension table codes (TS 23.038 6.2.1.1), each sent after ESC; the basic table is channels.gsm7's.
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                  "]": 0x3E, "|": 0x40, "€": 0x65}
GSM7_ESCAPE = 0x1B
_GSM7_INDEX = {char: code for code, char in enumerate(GSM7_BASIC) if code != GSM7_ESCAPE}
_GSM7_FROM_EXTENSION = {code: char for char, code in GSM7_EXTENSION.items()}


def gsm7_encode(text: str) -> bytes:
    """GSM 03.38, one septet per octet (SMPP data_coding 0); ValueError if not encodable."""
    out = bytearray()
    for char in text:
        if char in _GSM7_INDEX:
            out.append(_GSM7_INDEX[char])
        elif char in GSM7_EXTENSION:
            out += bytes([GSM7_ESCAPE, GSM7_EXTENSION[char]])
        else:
            raise ValueError(f"{char!r} is not in the GSM 7-bit alphabet")
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Unpacked GSM 03.38 to text; an unknown escape reads as a space, as 23.038 says."""
    chars, escaped = [], False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            chars.append(_GSM7_FROM_EXTENSION.get(septet, " "))
            escaped = False
        elif septet == GSM7_ESCAPE:
            escaped = True
        else:
            chars.append(GSM7_BASIC[septet])
    return "".join(chars)


def decode_text(data_coding: int, data: bytes) -> str:
    """A short message's text in the given data_coding."""
    if data_coding == DataCoding.UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DataCoding.DEFAULT:
        return gsm7_decode(data)
    if data_coding == DataCoding.IA5:
        return data.decode("ascii", errors="replace")
    return data.decode("latin-1")


def encode_text(text: str) -> tuple[DataCoding, bytes]:
    """GSM 7-bit where the text allows it, else UCS-2 (UTF-16BE: phones render the pairs)."""
    try:
        return DataCoding.DEFAULT, gsm7_encode(text)
    except ValueError:
        return DataCoding.UCS2, text.encode("utf-16-be")


# -- concatenation (3GPP TS 23.040, 9.2.3.24.1) ------------------------------------------------
SINGLE_OCTETS = {DataCoding.DEFAULT: 160, DataCoding.UCS2: 140}
UDH_CONCAT_LENGTH = 6
# A part is 140 octets; the 6-octet UDH leaves 134 for text: 153 septets once packed, 67 UCS-2.
PART_OCTETS = {DataCoding.DEFAULT: 153, DataCoding.UCS2: 134}
MAX_PARTS = 255


@dataclass(frozen=True)
class Concat:
    """Where a part belongs: reference, number of parts, this part's number (from 1)."""

    reference: int
    total: int
    sequence: int


def udh_concat(concat: Concat) -> bytes:
    """The user data header of a concatenated part, 8-bit reference (IEI 0x00)."""
    return bytes([5, 0x00, 3, concat.reference & 0xFF, concat.total, concat.sequence])


def split_user_data(text: str, reference: int) -> tuple[DataCoding, list[bytes]]:
    """Encode a text into one short message, or into UDH-headed parts of one concatenated SMS."""
    coding, data = encode_text(text)
    if len(data) <= SINGLE_OCTETS[coding]:
        return coding, [data]
    chunks = _chunks(coding, data)
    if len(chunks) > MAX_PARTS:
        raise ValueError("text too long for one concatenated SMS")
    return coding, [udh_concat(Concat(reference, len(chunks), number)) + chunk
                    for number, chunk in enumerate(chunks, start=1)]


def _chunks(coding: DataCoding, data: bytes) -> list[bytes]:
    """Cut at part size without splitting an escape sequence or a UTF-16 surrogate pair."""
    size, chunks, start = PART_OCTETS[coding], [], 0
    while start < len(data):
        end = min(start + size, len(data))
        if end < len(data):
            # Extension codes are never 0x1B, so a trailing 0x1B always starts a pair.
            if coding == DataCoding.DEFAULT and data[end - 1] == GSM7_ESCAPE:
                end -= 1
            elif coding == DataCoding.UCS2 and 0xD8 <= data[end - 2] <= 0xDB:
                end -= 2
        chunks.append(data[start:end])
        start = end
    return chunks


@dataclass
class _Waiting:
    total: int
    since: float
    texts: dict[int, str] = field(default_factory=dict)


class PartsBuffer:
    """Parts of concatenated SMS waiting for their siblings, keyed by sender and reference."""

    MISSING = "..."

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._waiting: dict[tuple[str, int, int], _Waiting] = {}

    def add(self, key: tuple[str, int, int], concat: Concat, text: str) -> str | None:
        """Keep a part; the whole text once every part is in (kept until `discard`)."""
        waiting = self._waiting.setdefault(key, _Waiting(concat.total, time.monotonic()))
        waiting.texts[concat.sequence] = text
        if len(waiting.texts) < waiting.total:
            return None
        return self._join(waiting)

    def expired(self) -> list[tuple[tuple[str, int, int], str]]:
        """Messages still missing parts after the timeout, with the gaps marked."""
        oldest = time.monotonic() - self.timeout_seconds
        return [(key, self._join(waiting)) for key, waiting in self._waiting.items()
                if waiting.since <= oldest]

    def discard(self, key: tuple[str, int, int]) -> None:
        """Forget a message once it is stored."""
        self._waiting.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting)

    def _join(self, waiting: _Waiting) -> str:
        return "".join(waiting.texts.get(number, self.MISSING) for number in range(1, waiting.total + 1))


def concat_info(message: ShortMessage) -> tuple[Concat | None, bytes]:
    """A part's place (from its UDH or SAR TLVs) and its text octets without the UDH."""
    data = message.user_data
    concat = None
    if message.esm_class & ESM_UDHI and data:
        header_length = data[0]
        concat = _concat_from_udh(data[1:1 + header_length])
        data = data[1 + header_length:]
    if concat is None and Tag.SAR_MSG_REF_NUM in message.tlvs:
        tlvs = message.tlvs
        concat = Concat(int.from_bytes(tlvs[Tag.SAR_MSG_REF_NUM], "big"),
                        int.from_bytes(tlvs.get(Tag.SAR_TOTAL_SEGMENTS, b"\1"), "big"),
                        int.from_bytes(tlvs.get(Tag.SAR_SEGMENT_SEQNUM, b"\1"), "big"))
    if concat is not None and not 1 <= concat.sequence <= concat.total:
        concat = None
    return concat, data


def _concat_from_udh(header: bytes) -> Concat | None:
    """Read IEI 0x00 (8-bit reference) or 0x08 (16-bit reference) from a UDH."""
    offset = 0
    while offset + 2 <= len(header):
        iei, length = header[offset], header[offset + 1]
        value = header[offset + 2:offset + 2 + length]
        if iei == 0x00 and len(value) == 3:
            return Concat(value[0], value[1], value[2])
        if iei == 0x08 and len(value) == 4:
            return Concat(int.from_bytes(value[:2], "big"), value[2], value[3])
        offset += 2 + length
    return None


# -- delivery receipts (SMPP 3.4 appendix B) ---------------------------------------------------
# message_state TLV values (5.2.28) and the stat: words of the receipt text, as outbox statuses.
_STATE_NAMES = {1: "enroute", 2: "delivered", 3: "expired", 4: "deleted", 5: "undelivered",
                6: "accepted", 7: "unknown", 8: "rejected"}
_STAT_WORDS = {"ENROUTE": "enroute", "DELIVRD": "delivered", "EXPIRED": "expired",
               "DELETED": "deleted", "UNDELIV": "undelivered", "ACCEPTD": "accepted",
               "UNKNOWN": "unknown", "REJECTD": "rejected"}
_RECEIPT_ID = re.compile(r"\bid:(\S+)", re.IGNORECASE)
_RECEIPT_STAT = re.compile(r"\bstat:(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Receipt:
    """An SMSC's word on a message it accepted: its id and what became of it."""

    message_id: str
    status: str


def parse_receipt(message: ShortMessage) -> Receipt | None:
    """The receipt in a deliver_sm: TLVs when present, else the appendix B text."""
    text = message.user_data.decode("latin-1")
    found_id = _RECEIPT_ID.search(text)
    found_stat = _RECEIPT_STAT.search(text)
    tlv_id = message.tlvs.get(Tag.RECEIPTED_MESSAGE_ID, b"").rstrip(b"\0").decode("latin-1")
    message_id = tlv_id or (found_id.group(1) if found_id else "")
    tlv_state = message.tlvs.get(Tag.MESSAGE_STATE, b"")
    if tlv_state:
        status = _STATE_NAMES.get(tlv_state[0], "unknown")
    elif found_stat:
        word = found_stat.group(1).upper()
        status = _STAT_WORDS.get(word, word.lower())
    else:
        status = "unknown"
    return Receipt(message_id, status) if message_id else None
