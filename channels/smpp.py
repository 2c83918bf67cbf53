"""SMS over SMPP 3.4: Sigap binds as a transceiver to an operator's or aggregator's SMSC.

The link runs beside the app (`ChannelPlugin.background`): it binds, keeps the session alive
with enquire_link, hands each reporter's text (reassembled when it came in parts) to the core
and each delivery receipt to the outbox, and re-binds with backoff whenever the link drops.
While it is down a send fails with a retryable DeliveryError, so replies wait in the outbox.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from contextlib import suppress
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter
from prometheus_client import Gauge

from bot.delivery.outbox import DeliveryError, Outbox
from bot.messages import InboundMessage, InvalidMessage, OutboundMessage
from bot.settings import ConfigurationError, Settings
from channels import smpp_pdu as wire
from channels.sms_text import SEGMENTS_SENT, fits_operator_sms, split_sms

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from channels import ChannelPlugin

CHANNEL = "sms"
log = logging.getLogger(__name__)
# Labelled, so that a deployment without SMPP exports no sample (not a "down" 0).
LINK_UP = Gauge("sigap_smpp_link_up", "1 while the SMPP link is bound to the SMSC, else 0", ["provider"])
PROVIDER = "smpp"




class LinkDown(ConnectionError):
    """The link is not bound (or dropped while a request waited for its response)."""


class BindRefused(ConnectionError):
    """The SMSC answered bind_transceiver with an error."""


class SubmitRefused(Exception):
    """The SMSC answered submit_sm with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"SMSC refused submit_sm: command_status 0x{status:08X}")
        self.status = status


class LinkEvents(Protocol):
    """Where the link hands what the SMSC delivers."""

    async def message(self, message: InboundMessage) -> None:
        """A reporter's text; must be stored before this returns."""

    async def receipt(self, receipt: wire.Receipt) -> None:
        """A delivery receipt."""

    async def bound(self) -> None:
        """The link is (again) bound: sends can go."""


class SubmitThrottle:
    """At most `rate` submit_sm per second, spaced evenly (SMSCs count per second)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        """Return when the next submit may go."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            self._next = max(now, self._next) + self.interval


class SmppLink:
    """One SMPP transceiver session to the SMSC, re-bound after every drop."""

    def __init__(self, config: Settings) -> None:
        self.config = config
        self._writer: asyncio.StreamWriter | None = None
        self._bound = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._pending: dict[int, asyncio.Future[wire.Pdu]] = {}
        self._sequence = itertools.count(1)
        self._reference = itertools.count(1)
        self._throttle = SubmitThrottle(config.smpp_throughput)
        self.parts = wire.PartsBuffer(config.smpp_reassembly_seconds)

    @property
    def bound(self) -> bool:
        """True while submit_sm can be sent."""
        return self._bound.is_set()

    async def wait_bound(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the link to be bound."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._bound.wait(), timeout)
        return self.bound

    def next_reference(self) -> int:
        """The reference of the next concatenated SMS (8-bit, wraps)."""
        return next(self._reference) % 256

    async def run(self, events: LinkEvents) -> None:
        """Bind, serve, re-bind after drops with backoff; until cancelled."""
        delay = self.config.smpp_reconnect_min_seconds
        flusher = asyncio.create_task(self._flush_incomplete(events))
        try:
            while True:
                was_bound = await self._serve_once(events)
                if was_bound:
                    delay = self.config.smpp_reconnect_min_seconds
                log.info("SMPP: re-binding in %.1f s", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.smpp_reconnect_max_seconds)
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)

    async def _serve_once(self, events: LinkEvents) -> bool:
        """One connection, from connect to drop; True if it got bound."""
        config = self.config
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(config.smpp_host, config.smpp_port),
                config.smpp_response_timeout_seconds,
            )
        except (OSError, TimeoutError) as error:
            log.warning("SMPP: cannot connect to %s:%s: %s", config.smpp_host, config.smpp_port, error)
            return False
        try:
            await self._bind(reader, writer)
            self._writer = writer
            self._bound.set()
            LINK_UP.labels(PROVIDER).set(1)
            log.info("SMPP: bound to %s:%s as %s", config.smpp_host, config.smpp_port,
                     config.smpp_system_id)
            await events.bound()
            await _first_to_end(self._read(reader, events), self._keep_alive())
        except (OSError, TimeoutError, asyncio.IncompleteReadError, wire.PduError) as error:
            log.warning("SMPP: link down: %s", error or type(error).__name__)
        except Exception:  # a bug must not end the channel: log it and re-bind
            log.exception("SMPP: session failed")
        finally:
            was_bound = self.bound
            self._lost()
            await _close(writer, unbind=was_bound)
        return was_bound

    async def _bind(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = self.config
        body = wire.bind_transceiver_body(
            config.smpp_system_id, config.smpp_password.get_secret_value(), config.smpp_system_type,
        )
        writer.write(wire.Pdu(wire.Command.BIND_TRANSCEIVER, self._next_sequence(), body=body).encode())
        await writer.drain()
        response = await asyncio.wait_for(wire.read_pdu(reader), config.smpp_response_timeout_seconds)
        if response.command_id != wire.Command.BIND_TRANSCEIVER_RESP or response.status:
            raise BindRefused(f"bind_transceiver refused: command 0x{response.command_id:08X} "
                              f"status 0x{response.status:08X}")

    async def _read(self, reader: asyncio.StreamReader, events: LinkEvents) -> None:
        """Read PDUs until the link drops; answer every request the SMSC sends."""
        while True:
            pdu = await wire.read_pdu(reader)
            if pdu.is_response:
                waiting = self._pending.pop(pdu.sequence, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(pdu)
            elif pdu.command_id == wire.Command.ENQUIRE_LINK:
                await self._write(pdu.response())
            elif pdu.command_id == wire.Command.DELIVER_SM:
                status = await self._on_deliver(pdu, events)
                await self._write(pdu.response(status, wire.message_id_body("")))
            elif pdu.command_id == wire.Command.UNBIND:
                await self._write(pdu.response())
                raise LinkDown("the SMSC unbound")
            else:
                await self._write(wire.Pdu(wire.Command.GENERIC_NACK, pdu.sequence,
                                           wire.Status.INVALID_COMMAND_ID))

    async def _keep_alive(self) -> None:
        """enquire_link on a timer; no answer in time means the link is dead."""
        while True:
            await asyncio.sleep(self.config.smpp_enquire_link_seconds)
            await self._request(wire.Command.ENQUIRE_LINK, b"")

    async def _on_deliver(self, pdu: wire.Pdu, events: LinkEvents) -> int:
        """Handle a deliver_sm; the status to answer (an error makes the SMSC deliver it again)."""
        try:
            message = wire.ShortMessage.decode(pdu.body)
        except wire.PduError:
            log.error("SMPP: unreadable deliver_sm %s", pdu.body.hex())
            return wire.Status.PERMANENT_APP_ERROR
        try:
            if message.is_receipt:
                receipt = wire.parse_receipt(message)
                if receipt:
                    await events.receipt(receipt)
                return wire.Status.OK
            return await self._on_text(message, events)
        except InvalidMessage as error:  # no number to answer, say: retrying cannot help
            log.error("SMPP: deliver_sm refused: %s", error)
            return wire.Status.PERMANENT_APP_ERROR
        except Exception:  # not stored: a temporary error makes the SMSC retry, nothing is lost
            log.exception("SMPP: could not store a deliver_sm from %s", message.source_addr)
            return wire.Status.TEMPORARY_APP_ERROR

    async def _on_text(self, message: wire.ShortMessage, events: LinkEvents) -> int:
        concat, data = wire.concat_info(message)
        text = wire.decode_text(message.data_coding, data)
        sender = reporter_id(message.source_addr, message.source_ton)
        if concat is None:
            await self._accept(events, sender, text)
            return wire.Status.OK
        key = (sender, concat.reference, concat.total)
        whole = self.parts.add(key, concat, text)
        if whole is not None:
            await self._accept(events, sender, whole)
            self.parts.discard(key)  # only once stored: a retried last part rebuilds it
        return wire.Status.OK

    async def _flush_incomplete(self, events: LinkEvents) -> None:
        """Hand over concatenated SMS whose missing parts never came: a partial report beats none."""
        period = max(0.05, min(5.0, self.config.smpp_reassembly_seconds / 4))
        while True:
            await asyncio.sleep(period)
            for key, text in self.parts.expired():
                log.warning("SMPP: parts missing from a message of %s; passing on what came", key[0])
                try:
                    await self._accept(events, key[0], text)
                except InvalidMessage as error:
                    log.error("SMPP: partial message refused: %s", error)
                except Exception:  # kept in the buffer, tried again next period
                    log.exception("SMPP: could not store a partial message")
                    continue
                self.parts.discard(key)

    @staticmethod
    async def _accept(events: LinkEvents, sender: str, text: str) -> None:
        if text.strip():
            await events.message(InboundMessage(channel=CHANNEL, sender_id=sender, text=text.strip()))

    async def submit(self, message: wire.ShortMessage) -> str:
        """submit_sm within the throughput limit; the SMSC's message id."""
        await self._throttle.wait()
        response = await self._request(wire.Command.SUBMIT_SM, message.encode())
        if response.command_id == wire.Command.GENERIC_NACK or response.status:
            raise SubmitRefused(response.status)
        return wire.parse_message_id(response.body)

    async def _request(self, command: int, body: bytes) -> wire.Pdu:
        """Send a request and wait for its response."""
        if not self.bound:
            raise LinkDown("the SMPP link is not bound")
        sequence = self._next_sequence()
        waiting: asyncio.Future[wire.Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = waiting
        try:
            await self._write(wire.Pdu(command, sequence, body=body))
            return await asyncio.wait_for(waiting, self.config.smpp_response_timeout_seconds)
        finally:
            self._pending.pop(sequence, None)

    async def _write(self, pdu: wire.Pdu) -> None:
        writer = self._writer
        if writer is None:
            raise LinkDown("the SMPP link is not connected")
        async with self._write_lock:
            writer.write(pdu.encode())
            await writer.drain()

    def _next_sequence(self) -> int:
        return (next(self._sequence) - 1) % wire.MAX_SEQUENCE + 1

    def _lost(self) -> None:
        """Forget the session; requests still waiting fail now rather than at their timeout."""
        self._bound.clear()
        self._writer = None
        LINK_UP.labels(PROVIDER).set(0)
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(LinkDown("the SMPP link dropped"))
        self._pending.clear()


async def _first_to_end(*coroutines: Coroutine[Any, Any, None]) -> None:
    """Run together until one ends; cancel the others; raise what ended it."""
    tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
    raise LinkDown("the session ended")


async def _close(writer: asyncio.StreamWriter, unbind: bool) -> None:
    """Close the TCP link, saying unbind first when the session was bound (shutdown)."""
    with suppress(OSError, TimeoutError):
        if unbind and not writer.is_closing():
            writer.write(wire.Pdu(wire.Command.UNBIND, wire.MAX_SEQUENCE).encode())
            await asyncio.wait_for(writer.drain(), 1.0)
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 1.0)


def reporter_id(address: str, ton: int) -> str:
    """A reporter's number as Sigap keeps it: +62... when the SMSC says it is international."""
    if ton == 1 and address.isdigit():
        return "+" + address
    return address


def address_of(number: str, ton: int | None = None, npi: int | None = None) -> tuple[str, int, int]:
    """An SMPP address with TON/NPI for a number Sigap keeps (+62..., a short code, a name)."""
    if number.startswith("+") and number[1:].isdigit():
        address, default_ton, default_npi = number[1:], 1, 1
    elif number.isdigit():
        address, default_ton, default_npi = number, 0, 1
    else:
        address, default_ton, default_npi = number, 5, 0  # alphanumeric
    return address, default_ton if ton is None else ton, default_npi if npi is None else npi


class SmppSender:
    """Sends replies as submit_sm: GSM 7-bit where possible, long texts in UDH parts."""

    channel = CHANNEL

    def __init__(self, link: SmppLink, config: Settings) -> None:
        self.link = link
        self.source = address_of(config.smpp_source_addr, config.smpp_source_ton,
                                 config.smpp_source_npi)

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        """Submit every part; the SMSC id of the last one (its receipt settles the message)."""
        if not self.link.bound:
            raise DeliveryError("the SMPP link to the SMSC is down", retryable=True)
        destination, dest_ton, dest_npi = address_of(recipient)
        source, source_ton, source_npi = self.source
        last_id = None
        try:
            for text in split_sms(message.text):
                coding, parts = wire.split_user_data(text, self.link.next_reference())
                for part in parts:
                    last_id = await self.link.submit(wire.ShortMessage(
                        source, destination, part, source_ton, source_npi, dest_ton, dest_npi,
                        esm_class=wire.ESM_UDHI if len(parts) > 1 else 0, data_coding=coding,
                        registered_delivery=1,  # a receipt for the final outcome
                    ))
                SEGMENTS_SENT.labels(CHANNEL).inc(len(parts))
        except SubmitRefused as error:
            raise DeliveryError(str(error), error.status in wire.RETRYABLE_STATUSES) from error
        except (OSError, TimeoutError) as error:  # LinkDown is a ConnectionError
            raise DeliveryError(f"SMPP link: {error or 'no response in time'}", retryable=True) from error
        return last_id


class CoreEvents:
    """Hands the link's deliveries to the core: texts to Conversations, receipts to the Outbox."""

    def __init__(self, conversations: Conversations, outbox: Outbox) -> None:
        self.conversations = conversations
        self.outbox = outbox

    async def message(self, message: InboundMessage) -> None:
        """Store (and process in the background) a reporter's text."""
        await self.conversations.accept(message)

    async def receipt(self, receipt: wire.Receipt) -> None:
        """Record a delivery receipt against the outbox message with that SMSC id."""
        for candidate in _id_spellings(receipt.message_id):
            if await asyncio.to_thread(self.outbox.record_delivery, candidate, receipt.status):
                return
        log.info("SMPP: receipt for unknown message id %s", receipt.message_id)


    async def bound(self) -> None:
        """Replies that waited for the link go out now rather than at their backoff."""
        waiting = await asyncio.to_thread(self.outbox.retry_now, CHANNEL)
        if waiting:
            log.info("SMPP: link bound; %d waiting messages due now", waiting)


def _id_spellings(message_id: str) -> list[str]:
    """Some SMSCs answer submit_sm with a hex id and write it in decimal in the receipt."""
    spellings = [message_id]
    if message_id.isdigit():
        number = int(message_id)
        spellings += [format(number, "x"), format(number, "X")]
    return spellings


def plugin(settings: Settings) -> ChannelPlugin | None:
    """The SMPP channel when SMS_PROVIDER=smpp; a missing SMSC address is a startup error."""
    from channels import ChannelPlugin

    if settings.sms_provider != "smpp":
        return None
    if not (settings.smpp_host and settings.smpp_system_id and settings.smpp_source_addr):
        raise ConfigurationError("SMS_PROVIDER=smpp needs SMPP_HOST, SMPP_SYSTEM_ID and SMPP_SOURCE_ADDR")
    link = SmppLink(settings)

    async def background(conversations: Conversations, outbox: Outbox) -> None:
        await link.run(CoreEvents(conversations, outbox))

    return ChannelPlugin(CHANNEL, APIRouter(), SmppSender(link, settings), background, fits_operator_sms)
