"""A local SMSC speaking SMPP 3.4 on a loopback port, in its own thread and event loop.

It accepts bind_transceiver (or refuses it while told to), answers enquire_link, records every
submit_sm and answers it with a message id, sends deliver_sm (single, concatenated with a UDH,
delivery receipts) and can drop the connection. Its PDU parsing is written here, apart from
channels/smpp_pdu.py, so that a mistake there is not mirrored here.
"""

from __future__ import annotations

import asyncio
import struct
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from channels.smpp_pdu import gsm7_decode, gsm7_encode

BIND_TRANSCEIVER, SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x09, 0x04, 0x05, 0x06, 0x15
RESP = 0x80000000
BIND_FAILED = 0x0D


@dataclass(frozen=True)
class Submit:
    """A submit_sm as the SMSC saw it."""

    message_id: str
    source: str
    source_ton: int
    destination: str
    dest_ton: int
    esm_class: int
    data_coding: int
    registered_delivery: int
    short_message: bytes

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence) from an 8-bit concatenation UDH (IEI 0x00)."""
        if not self.esm_class & 0x40:
            return None
        header = self.short_message[1:1 + self.short_message[0]]
        assert header[0] == 0x00 and header[1] == 3, header.hex()
        return header[2], header[3], header[4]

    @property
    def text(self) -> str:
        """The text of this part (after the UDH)."""
        data = self.short_message
        if self.esm_class & 0x40:
            data = data[1 + data[0]:]
        return data.decode("utf-16-be") if self.data_coding == 8 else gsm7_decode(data)


def _c_strings(body: bytes, offset: int, count: int) -> tuple[list[str], int]:
    values = []
    for _ in range(count):
        end = body.index(b"\0", offset)
        values.append(body[offset:end].decode("ascii"))
        offset = end + 1
    return values, offset


def parse_submit(body: bytes, message_id: str) -> Submit:
    """submit_sm body fields (SMPP 3.4, 4.4.1)."""
    (_service,), i = _c_strings(body, 0, 1)
    source_ton = body[i]
    (source,), i = _c_strings(body, i + 2, 1)
    dest_ton = body[i]
    (destination,), i = _c_strings(body, i + 2, 1)
    esm_class = body[i]
    _times, i = _c_strings(body, i + 3, 2)
    registered_delivery, data_coding, length = body[i], body[i + 2], body[i + 4]
    return Submit(message_id, source, source_ton, destination, dest_ton, esm_class, data_coding,
                  registered_delivery, body[i + 5:i + 5 + length])


def deliver_sm_body(source: str, destination: str, short_message: bytes, esm_class: int = 0,
                    data_coding: int = 0, source_ton: int = 1) -> bytes:
    """A deliver_sm body (SMPP 3.4, 4.6.1)."""
    return (b"\0" + bytes([source_ton, 1]) + source.encode() + b"\0" + bytes([0, 1])
            + destination.encode() + b"\0" + bytes([esm_class, 0, 0]) + b"\0\0"
            + bytes([0, 0, data_coding, 0, len(short_message)]) + short_message)


class FakeSmsc:
    """An SMSC for one ESME; methods are called from the test's thread."""

    def __init__(self, system_id: str = "sigap", password: str = "rahasia") -> None:
        self.system_id, self.password = system_id, password
        self.submits: list[Submit] = []
        self.binds = 0
        self.bind_attempts = 0
        self.refusing_binds = False
        self.deliver_statuses: list[int] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._sequence = 0
        self._waiting: dict[int, asyncio.Future[int]] = {}

    def __enter__(self) -> FakeSmsc:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_exc: object) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coroutine: Any, timeout: float = 10) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    # -- control --------------------------------------------------------------------------
    @property
    def bound(self) -> bool:
        """An ESME is bound now."""
        return self._writer is not None

    def drop(self) -> None:
        """Cut the TCP connection without unbind, as a network failure does."""
        self._call(self._drop())

    def deliver(self, source: str, text: str, ucs2: bool = False) -> int:
        """A reporter's SMS in one deliver_sm; the status Sigap answered."""
        data = text.encode("utf-16-be") if ucs2 else gsm7_encode(text)
        body = deliver_sm_body(source, "112", data, data_coding=8 if ucs2 else 0)
        return int(self._call(self._request(DELIVER_SM, body)))

    def deliver_parts(self, source: str, text: str, parts: int, reference: int,
                      order: list[int] | None = None) -> list[int]:
        """A concatenated SMS in `parts` UDH-headed deliver_sm, sent in `order` (1-based)."""
        data = gsm7_encode(text)
        size = -(-len(data) // parts)
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        statuses = []
        for number in order or list(range(1, parts + 1)):
            udh = bytes([5, 0x00, 3, reference, parts, number])
            body = deliver_sm_body(source, "112", udh + chunks[number - 1], esm_class=0x40)
            statuses.append(int(self._call(self._request(DELIVER_SM, body))))
        return statuses

    def receipt(self, message_id: str, stat: str = "DELIVRD", to: str = "6281200000000") -> int:
        """A delivery receipt (appendix B text) for a submitted message."""
        text = (f"id:{message_id} sub:001 dlvrd:001 submit date:2501011200 "
                f"done date:2501011201 stat:{stat} err:000 text:")
        body = deliver_sm_body(to, "112", text.encode(), esm_class=0x04)
        return int(self._call(self._request(DELIVER_SM, body)))

    def messages_to(self, destination: str) -> list[str]:
        """Texts submitted to a number, concatenated parts joined (parts must come in order)."""
        texts: list[str] = []
        open_parts: dict[int, list[Submit]] = {}
        for submit in [s for s in list(self.submits) if s.destination == destination]:
            if submit.concat is None:
                texts.append(submit.text)
                continue
            reference, total, number = submit.concat
            parts = open_parts.setdefault(reference, [])
            assert number == len(parts) + 1, f"part {number} of {total} out of order"
            parts.append(submit)
            if number == total:
                texts.append("".join(p.text for p in open_parts.pop(reference)))
        return texts

    # -- the SMSC side (runs in the fake's loop) --------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                header = await reader.readexactly(16)
                length, command, status, sequence = struct.unpack(">IIII", header)
                body = await reader.readexactly(length - 16)
                if not await self._handle(writer, command, status, sequence, body):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            self._connections.discard(writer)
            writer.close()

    async def _handle(self, writer: asyncio.StreamWriter, command: int, status: int,
                      sequence: int, body: bytes) -> bool:
        if command & RESP:
            waiting = self._waiting.pop(sequence, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(status)
            return True
        if command == BIND_TRANSCEIVER:
            return await self._bind(writer, sequence, body)
        if command == ENQUIRE_LINK:
            self._send(writer, ENQUIRE_LINK | RESP, 0, sequence)
        elif command == SUBMIT_SM:
            message_id = f"{len(self.submits) + 1:08X}"
            self.submits.append(parse_submit(body, message_id))
            self._send(writer, SUBMIT_SM | RESP, 0, sequence, message_id.encode() + b"\0")
        elif command == UNBIND:
            self._send(writer, UNBIND | RESP, 0, sequence)
            return False
        return True

    async def _bind(self, writer: asyncio.StreamWriter, sequence: int, body: bytes) -> bool:
        self.bind_attempts += 1
        (system_id, password, _type), i = _c_strings(body, 0, 3)
        if self.refusing_binds or (system_id, password) != (self.system_id, self.password) \
                or body[i] != 0x34:
            self._send(writer, BIND_TRANSCEIVER | RESP, BIND_FAILED, sequence)
            return False
        self.binds += 1
        self._writer = writer
        self._send(writer, BIND_TRANSCEIVER | RESP, 0, sequence, b"fakesmsc\0")
        return True

    def _send(self, writer: asyncio.StreamWriter, command: int, status: int, sequence: int,
              body: bytes = b"") -> None:
        writer.write(struct.pack(">IIII", 16 + len(body), command, status, sequence) + body)

    async def _request(self, command: int, body: bytes) -> int:
        writer = self._writer
        assert writer is not None, "no ESME is bound"
        self._sequence += 1
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[self._sequence] = answer
        self._send(writer, command, 0, self._sequence, body)
        status = await asyncio.wait_for(answer, 10)
        self.deliver_statuses.append(status)
        return status

    async def _drop(self) -> None:
        if self._writer is not None:
            self._writer.transport.abort()
            self._writer = None

    async def _shutdown(self) -> None:
        await self._drop()
        for writer in list(self._connections):
            writer.transport.abort()
        await asyncio.sleep(0.05)  # let the connection tasks see the end
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
