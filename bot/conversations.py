"""Conversations: store inbound messages first, then process each conversation in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.coordination.locks import ConversationLocks, MemoryLocks
from bot.coordination.pubsub import PubSub, build_pubsub
from bot.coordination.ratelimit import RateLimiter, build_limiter
from bot.dialogue.engine import Engine, Turn
from bot.dialogue.responses import render
from bot.dialogue.tracker import DialogueState
from bot.messages import Accepted, InboundMessage, OutboundMessage
from bot.metrics import (
    CHAIN_MESSAGES,
    FIRST_MESSAGE_TO_TICKET,
    MESSAGES_IN,
    NON_EMERGENCIES,
    PARSE_SECONDS,
    PRANKS,
    REPEATS,
    SILENT_CHATS,
    THROTTLED,
    TURNS,
)
from bot.privacy import mask
from bot.services import Services
from bot.storage.models import (
    Contact,
    Conversation,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    aware,
    utcnow,
)
from bot.tickets.views import CLOSED_STATUSES
from bot.triage import contacts
from bot.triage.senders import history, prank_score, record_prank
from nlu.model import NLU

log = logging.getLogger(__name__)

# Storing an inbound message has threads of its own, so a webhook's answer never queues behind
# the turns being processed; and only this many turns run at once, so a burst of reports
# cannot starve the webhooks of the CPU (the others wait, stored, in order).
INGEST_THREADS = 4
TURNS_AT_ONCE = 2
# How often each process looks for messages no turn finished, and how many it takes at a time.
SWEEP_SECONDS = 5.0
SWEEP_LIMIT = 500
# Below this the NLU is unsure of a message; twice running, an operator should look.
UNSURE_CONFIDENCE = 0.5
# A reporter asking for a person, even beside a report the safety rules keep as one.
ASKS_FOR_PERSON = 0.35
EMERGENCY, PRANK = "report_emergency", "prank_or_test"
# Where the console shows a conversation: its centre's region code and its public id.
Where = tuple[str, str]


@dataclass
class Outcome:
    """What one processed message came to: the replies, what its contact became (bot/triage),
    and what the console should know."""

    replies: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "other"  # incident | information | prank | other | silent
    target: str | None = None
    region: str | None = None  # the centre a non-emergency named, when not the conversation's
    close: bool = False
    unsure: bool = False
    flag: str | None = None


class Conversations:
    """The path of a message through the core: persist, order, understand, answer."""

    def __init__(
        self, services: Services, nlu: NLU, engine: Engine,
        push_channels: frozenset[str] = frozenset(),
        locks: ConversationLocks | None = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.nlu = nlu
        self.engine = engine
        self.locks = locks or MemoryLocks()
        # Replies on these channels go through the outbox (written with the turn).
        self.push_channels = push_channels
        self._background: set[asyncio.Task[None]] = set()
        self._ingest = ThreadPoolExecutor(INGEST_THREADS, thread_name_prefix="ingest")
        self._turns = asyncio.Semaphore(TURNS_AT_ONCE)
        self.on_replies: list[Callable[[], None]] = []
        # Told of every change of a conversation (the console's live updates). A sender writing
        # faster than SENDER_MESSAGES_PER_MINUTE is throttled; a throttled sender gets at most one
        # reply per window. In Redis when REDIS_URL is set (several processes), else in-process.
        settings = services.settings
        self.events: PubSub = build_pubsub(settings.redis_url)
        self.sender_rate: RateLimiter = build_limiter(
            "sender-rate", settings.sender_messages_per_minute, 60, settings.redis_url)
        self.throttled_replies: RateLimiter = build_limiter(
            "throttled-replies", 1, settings.throttle_reply_minutes * 60, settings.redis_url)

    async def receive(self, message: InboundMessage) -> Accepted:
        """Commit the message (before any answer to the provider); recognise retries."""
        limit = self.services.settings.max_message_chars
        if len(message.text) > limit:
            # No channel sends this much (the REST channel refuses it); kept, not lost.
            log.warning("%s message of %d characters cut to %d", message.channel, len(message.text), limit)
            message = replace(message, text=message.text[:limit])
        accepted, where = await asyncio.get_running_loop().run_in_executor(self._ingest, self._store, message)
        if where is not None:
            await self.announce(accepted.conversation_id, "message", where)
        return accepted

    async def announce(self, conversation_id: int, kind: str, where: Where | None = None) -> None:
        """Tell the console a conversation changed (`where`: its region and public id, when the
        caller has them); a lost announcement loses nothing stored."""
        try:
            if where is None:
                where = await asyncio.to_thread(self._where, conversation_id)
            region, public_id = where
            await self.events.publish({"conversation": conversation_id, "public_id": public_id,
                                       "kind": kind, "region": region})
        except Exception as error:  # live updates are a convenience; the board also refreshes
            log.warning("console update for conversation %s not published: %s", conversation_id, error)

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        """Store and process a message; a retry gets the replies of the first delivery."""
        accepted = await self.receive(message)
        return await self.process(accepted)

    async def process(self, accepted: Accepted, replies: bool = True) -> list[OutboundMessage]:
        """Process every pending message of the conversation in order, up to this one; return
        its replies (`replies`: a pull channel's answer; a push channel's go through the outbox).
        The same text again gets no reply (the first copy was answered)."""
        if accepted.collapsed:
            return []
        async with self.locks.hold(accepted.conversation_id):
            pending = await asyncio.to_thread(self._pending, accepted.conversation_id)
            for message_id in pending:
                if message_id > accepted.message_id:
                    break
                await self._process_one(message_id)
        return await asyncio.to_thread(self._replies_to, accepted.message_id) if replies else []

    async def accept(self, message: InboundMessage) -> Accepted:
        """Commit the message and process it in the background (webhooks answer at once)."""
        accepted = await self.receive(message)
        if not accepted.duplicate:
            task = asyncio.create_task(self._process_quietly(accepted))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return accepted

    async def _process_quietly(self, accepted: Accepted) -> None:
        try:
            async with self._turns:
                await self.process(accepted, replies=False)
        except Exception:  # stays unprocessed in the database; the backlog pass retries it
            log.exception("processing message %s failed", accepted.message_id)
        for callback in self.on_replies:
            callback()

    async def close(self) -> None:
        """Release the live-update and rate-limit connections."""
        await self.events.close()
        await self.sender_rate.close()
        await self.throttled_replies.close()

    async def drain(self) -> None:
        """Wait for background processing to finish (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def process_backlog(self, older_than: timedelta = timedelta(0)) -> int:
        """Process messages stored but never processed (a crash, a process killed, Redis or the
        database down during their turn), oldest first; returns how many."""
        ids = await asyncio.to_thread(self._unprocessed_ids, older_than)
        for conversation_id, message_id in ids:
            await self.process(Accepted(message_id, conversation_id, duplicate=False), replies=False)
        return len(ids)

    async def sweep(self, every: float = SWEEP_SECONDS) -> None:
        """Until cancelled: pick up what no turn finished (its process died, a server was down).
        A message stored seconds ago is still in someone's hands: it is left to them."""
        while True:
            await asyncio.sleep(every)
            try:
                recovered = await self.process_backlog(older_than=timedelta(seconds=every))
                if recovered:
                    log.warning("picked up %d messages no turn had finished", recovered)
            except Exception as error:  # the servers are still down: the next sweep tries again
                log.warning("sweep of unfinished messages failed: %s", error)

    def take_notifications(self, conversation_id: int) -> list[OutboundMessage]:
        """Pending outbox messages of a conversation, marked as delivered (pull channels)."""
        with self.db.session() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.conversation_id == conversation_id)
                .where(OutboxMessage.status == "pending")
                .where(OutboxMessage.next_attempt_at <= utcnow())
                .order_by(OutboxMessage.id)
            ).all()
            for row in rows:
                row.status, row.sent_at = "sent", utcnow()
                row.attempts += 1
            # What the notice is about (ticket, status); a push channel's hints stay out.
            return [OutboundMessage(r.text, custom={k: v for k, v in r.payload.items() if k != "custom"})
                    for r in rows]

    # -- storage (blocking; run in a thread) ----------------------------------
    def _store(self, message: InboundMessage) -> tuple[Accepted, Where | None]:
        # Two first messages of a new reporter race to create the conversation row: the
        # loser finds it on its second try.
        for _attempt in range(3):
            try:
                return self._insert(message)
            except IntegrityError:
                duplicate = self._duplicate(message)
                if duplicate is not None:
                    return duplicate, None
        raise RuntimeError("could not store the message after three attempts")

    def _insert(self, message: InboundMessage) -> tuple[Accepted, Where]:
        # Nothing is flushed before the commit but the new rows (one UPDATE of the conversation
        # at the end, not one before every query).
        with self.db.session() as session, session.no_autoflush:
            conversation = self._conversation(session, message)
            region = self.services.regions.code(conversation.region)
            where = (region, conversation.public_id)
            first = contacts.repeat_of(session, conversation.id, message)
            if first is not None:
                if contacts.count_repeat(first, message.provider_message_id):
                    REPEATS.labels(region).inc()
                return Accepted(first.id, conversation.id, duplicate=True, collapsed=True), where
            row = Message(
                conversation_id=conversation.id,
                channel=message.channel,
                direction="in",
                text=message.text,
                provider_message_id=message.provider_message_id,
                payload=_payload(message),
                digest=contacts.digest(message.text),
                created_at=message.received_at,
            )
            session.add(row)
            session.flush()
            MESSAGES_IN.labels(message.channel).inc()
            if row.digest is not None:
                _count_chain(session, row, region)
            return Accepted(row.id, conversation.id, duplicate=False), where

    def _duplicate(self, message: InboundMessage) -> Accepted | None:
        with self.db.session() as session:
            row = session.scalars(
                select(Message).where(
                    Message.channel == message.channel,
                    Message.provider_message_id == message.provider_message_id,
                )
            ).first()
            if row is None:
                return None
            log.info("retry of %s message %s recognised", message.channel, row.id)
            return Accepted(row.id, row.conversation_id, duplicate=True)

    @staticmethod
    def _conversation(session: Any, message: InboundMessage) -> Conversation:
        conversation = session.scalars(
            select(Conversation).where(
                Conversation.channel == message.channel,
                Conversation.sender_id == message.sender_id,
            )
        ).first()
        if conversation is None:
            conversation = Conversation(channel=message.channel, sender_id=message.sender_id)
            session.add(conversation)
            session.flush()
        elif conversation.closed_at is not None:
            # Closed (by an operator, or after a non-emergency): a new dialogue, a new contact.
            conversation.closed_at, conversation.tracker, conversation.contact_id = None, {}, None
        conversation.updated_at = utcnow()
        return conversation

    def _pending(self, conversation_id: int) -> list[int]:
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(Message.id)
                    .where(Message.conversation_id == conversation_id)
                    .where(Message.direction == "in", Message.processed_at.is_(None))
                    .order_by(Message.id)
                )
            )

    def _unprocessed_ids(self, older_than: timedelta) -> list[tuple[int, int]]:
        with self.db.session() as session:
            rows = session.execute(
                select(Message.conversation_id, Message.id)
                .where(Message.direction == "in", Message.processed_at.is_(None),
                       Message.created_at <= utcnow() - older_than)
                .order_by(Message.id).limit(SWEEP_LIMIT)
            )
            return [(int(c), int(m)) for c, m in rows]

    def _replies_to(self, message_id: int) -> list[OutboundMessage]:
        with self.db.session() as session:
            rows = session.scalars(
                select(Message).where(Message.reply_to_id == message_id).order_by(Message.id)
            )
            return [OutboundMessage.of({"text": r.text, **r.payload}) for r in rows]

    async def _throttled(self, conversation: Conversation) -> bool:
        """Marked abusive, a prank record over the limit, or writing too fast (a limiter that
        cannot answer throttles nobody)."""
        try:
            fast = not await self.sender_rate.hit(str(conversation.id))
        except Exception as error:  # Redis down: answering matters more than limiting
            log.warning("sender rate not checked: %s", error)
            fast = False
        record = prank_score(conversation.pranks or []) >= self.services.settings.prank_throttle_score
        return fast or record or conversation.abusive_since is not None

    def _where(self, conversation_id: int) -> Where:
        with self.db.session() as session:
            row = session.execute(select(Conversation.region, Conversation.public_id)
                                  .where(Conversation.id == conversation_id)).one()
        return self.services.regions.code(row[0]), row[1]

    # -- one turn -------------------------------------------------------------
    async def _process_one(self, message_id: int) -> None:
        conversation, message, silent_before = await asyncio.to_thread(self._load, message_id)
        if conversation.held_by_operator:
            # An operator holds the conversation: the bot stays silent, the console shows it.
            where = await asyncio.to_thread(self._save, conversation.id, message.id, None, None)
            await self.announce(conversation.id, "message", where)
            return
        state = DialogueState.from_json(conversation.tracker, self.services.domain.initial_slots())
        gps = _gps(message.payload)
        with PARSE_SECONDS.time():
            parse = await asyncio.to_thread(self.nlu.parse, message.text, gps)
        words_signal = bool(parse.hazards or parse.cues or parse.help_call)
        signal = parse.intent.name == EMERGENCY or words_signal
        # A dot or a sticker has no words for the classifier to weigh: its intent is noise.
        if not words_signal and contacts.trivial(message.text, message.payload) and not _reporting(state):
            outcome = self._silent(conversation, state, silent_before)
        else:
            outcome = await self._turn(conversation, message, state, parse, signal)
        where = await asyncio.to_thread(self._save, conversation.id, message.id, state, outcome,
                                        aware(message.created_at))
        await self.announce(conversation.id, "turn", where)
        TURNS.labels(conversation.channel, parse.intent.name).inc()
        log.info(
            "conversation %s (%s %s): intent %s, %s",
            conversation.id, conversation.channel, mask(conversation.sender_id),
            parse.intent.name, outcome.kind,
        )

    def _silent(self, conversation: Conversation, state: DialogueState, silent_before: int) -> Outcome:
        """A dot, a sticker, one character: how to report, said once a contact; never throttled,
        so whatever the sender writes next is served at once."""
        if silent_before:
            return Outcome(kind="silent")
        reply = render(self.services.domain.responses, "utter_silent", state.slots, conversation.channel)
        return Outcome([reply], kind="silent")

    async def _turn(self, conversation: Conversation, message: Message, state: DialogueState,
                    parse: Any, signal: bool) -> Outcome:
        turn = Turn(
            sender_id=str(conversation.id),
            channel=conversation.channel,
            text=message.text,
            parse=parse.to_dict(),
            metadata={"message_id": message.id, **message.payload},
        )
        outcome = Outcome(flag=_person_wanted(parse.intent_ranking))
        throttled = await self._throttled(conversation)
        try:
            outcome.replies = await self.engine.handle(state, turn)
        except Exception:
            # The message stays stored and marked; an operator sees it in the console.
            log.exception("turn failed for conversation %s", conversation.id)
            outcome.replies = [{"text": _apology(state.slots.get("user_language"))}]
            outcome.flag = "turn_failed"
        if throttled and not signal and outcome.replies:
            reporting = await asyncio.to_thread(self.services.desk.open_for_conversation, conversation.id)
            if reporting is None and not await _allowed(self.throttled_replies, str(conversation.id)):
                THROTTLED.labels(self.services.regions.code(conversation.region)).inc()
                outcome.replies = []  # stored and understood; the answer waits for the window
        # What the action that answered made of it (actions/prank.py, actions/redirect.py).
        triage = state.slots.get("triage") or {}
        state.slots["triage"] = None
        if state.slots.get("ticket_id") is not None:
            outcome.kind = "incident"
        elif triage.get("outcome") == "prank" and not (parse.needs_check or parse.hazards or signal):
            # Answered as one either way; only a sure prank goes on the sender's record.
            outcome.kind = "prank" if parse.intent.confidence >= UNSURE_CONFIDENCE else "other"
        elif triage.get("outcome") == "information" and not signal:
            outcome.kind, outcome.target = "information", triage.get("target")
            outcome.region, outcome.close = triage.get("region"), bool(triage.get("close"))
        outcome.unsure = parse.intent.confidence < UNSURE_CONFIDENCE and not (parse.hazards or parse.cues)
        return outcome

    def _load(self, message_id: int) -> tuple[Conversation, Message, int]:
        """The message, its conversation and how silent its contact has been: one query."""
        with self.db.session() as session:
            message, conversation, contact = session.execute(
                select(Message, Conversation, Contact)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .outerjoin(Contact, Contact.id == Conversation.contact_id)
                .where(Message.id == message_id)).one()
            # A contact that ended with an hour's silence has been silent for no one.
            live = contact is not None and utcnow() - aware(contact.last_at) < self._contact_length
            return conversation, message, contact.silent if live else 0

    @property
    def _contact_length(self) -> timedelta:
        return timedelta(minutes=self.services.domain.session_expiration_minutes or 60)

    def _save(self, conversation_id: int, message_id: int, state: DialogueState | None,
              outcome: Outcome | None, received: datetime | None = None) -> Where:
        """One transaction: the dialogue state, the contact, the marks, the replies (and their outbox)."""
        with self.db.session() as session:
            conversation = session.get_one(Conversation, conversation_id)
            replies = [OutboundMessage.of(r) for r in (outcome.replies if outcome is not None else [])]
            if state is not None and outcome is not None:
                self._note(session, conversation, state, outcome, received or utcnow())
            now = utcnow()
            conversation.updated_at = now
            session.execute(update(Message).where(Message.id == message_id).values(processed_at=now))
            payloads = [{k: v for k, v in out.to_dict().items() if k != "text"} for out in replies]
            recorded = [dict(payload) for payload in payloads]
            if conversation.channel in self.push_channels and replies:
                outbox = [OutboxMessage(conversation_id=conversation_id, channel=conversation.channel,
                                        text=out.text, payload=payload)
                          for out, payload in zip(replies, payloads, strict=True)]
                session.add_all(outbox)
                session.flush()  # one statement for all: their ids go on the transcript
                for row, entry in zip(outbox, recorded, strict=True):
                    entry["outbox_id"] = row.id  # the transcript shows its delivery status
            session.add_all([Message(conversation_id=conversation_id, channel=conversation.channel,
                                     direction="out", text=out.text, reply_to_id=message_id, payload=entry)
                             for out, entry in zip(replies, recorded, strict=True)])
            return self.services.regions.code(conversation.region), conversation.public_id

    def _note(self, session: Any, conversation: Conversation, state: DialogueState, outcome: Outcome,
              received: datetime) -> None:
        """The dialogue state, what the contact became, the prank record and the console's marks."""
        region = self.services.regions.code(conversation.region)
        flag = outcome.flag
        if outcome.kind == "prank":
            record_prank(conversation)
            PRANKS.labels(region).inc()
        else:
            flag = _note_history(session, conversation) or flag
        conversation.tracker = state.to_json()
        conversation.language = str(state.slots.get("user_language") or "id")
        conversation.unsure_streak = conversation.unsure_streak + 1 if outcome.unsure else 0
        if conversation.unsure_streak >= 2 and not conversation.needs_person:
            flag = flag or "unsure_twice"
        if flag and conversation.needs_person != "request_human":
            conversation.needs_person = flag
        now = utcnow()
        silent = outcome.kind == "silent"
        contact = contacts.note(session, conversation, outcome.kind, target=outcome.target, silent=silent,
                                region=outcome.region, received=received, now=now,
                                length=self._contact_length)
        if outcome.kind == "incident" and contact.reported_at is None:
            contact.reported_at = now
            FIRST_MESSAGE_TO_TICKET.observe((now - aware(contact.started_at)).total_seconds())
        if silent and contact.silent == 1:
            SILENT_CHATS.labels(region).inc()
        if outcome.kind == "information":
            NON_EMERGENCIES.labels(outcome.region or region, outcome.target or "default").inc()
        if outcome.close:
            # Not an emergency, nothing under way: closed without a ticket (the board lets it go).
            conversation.closed_at, conversation.contact_id = now, None


def _payload(message: InboundMessage) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if message.gps:
        payload["location"] = {"latitude": message.latitude, "longitude": message.longitude}
    if message.media:
        payload["media"] = list(message.media)
    return payload


def _gps(payload: dict[str, Any]) -> tuple[float, float] | None:
    location = payload.get("location")
    if not location:
        return None
    return (float(location["latitude"]), float(location["longitude"]))


async def _allowed(limiter: RateLimiter, key: str) -> bool:
    """A limiter's answer; when it cannot answer (Redis down), allowed."""
    try:
        return await limiter.hit(key)
    except Exception as error:  # answering matters more than limiting
        log.warning("%s not checked: %s", limiter, error)
        return True


def _reporting(state: DialogueState) -> bool:
    """A report or its guidance under way: every message goes to the dialogue, a dot included."""
    slots = state.slots
    return bool(state.active_loop or slots.get("ticket_id") is not None or slots.get("guidance_waiting"))


def _count_chain(session: Any, row: Message, region: str) -> None:
    """A long text many senders sent within minutes is a chain message (the supervisor board
    shows it); each sender's first copy is still understood like any message."""
    senders = contacts.chain_senders(session, str(row.digest), row.created_at)
    if senders == contacts.CHAIN_SENDERS:
        CHAIN_MESSAGES.labels(region).inc(senders)
    elif senders > contacts.CHAIN_SENDERS:
        CHAIN_MESSAGES.labels(region).inc()


def _note_history(session: Any, conversation: Conversation) -> str | None:
    """A sender with a prank record or an abusive mark reports an emergency: the ticket goes out
    as any other, and carries their history (once) for the operator."""
    note = history(conversation)
    if note is None:
        return None
    ticket = session.scalars(select(Ticket).where(Ticket.conversation_id == conversation.id)
                             .where(Ticket.status.not_in(CLOSED_STATUSES)).order_by(Ticket.id.desc())).first()
    if ticket is None:
        return None
    noted = session.scalars(select(TicketEvent.id).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "note",
        TicketEvent.note.startswith("sender history"))).first()
    if noted is not None:
        return None  # told once; an operator may have dealt with it since
    session.add(TicketEvent(ticket_id=ticket.id, kind="note", actor="bot", note=note))
    return "prank_history"


def _person_wanted(ranking: list[Any]) -> str | None:
    """"request_human" when the reporter asked for a person (even beside a report)."""
    scores = {label.name: label.confidence for label in ranking}
    return "request_human" if scores.get("request_human", 0.0) >= ASKS_FOR_PERSON else None


def _apology(language: Any) -> str:
    if language == "en":
        return "Your message was received and an operator will read it. Please keep writing."
    return "Pesan Anda sudah diterima dan akan dibaca operator. Silakan terus menulis."
