"""Conversations: each message stored first (bot/inbox.py), then each conversation processed in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from bot.coordination.locks import ConversationLocks, MemoryLocks
from bot.coordination.pubsub import PubSub, build_pubsub
from bot.coordination.ratelimit import RateLimiter, build_limiter
from bot.coordination.threads import TurnThreads
from bot.dialogue.engine import Engine, Turn
from bot.dialogue.responses import render
from bot.dialogue.tracker import DialogueState
from bot.inbox import Inbox, Where, recorded_reply
from bot.messages import Accepted, InboundMessage, OutboundMessage
from bot.metrics import (
    FIRST_MESSAGE_TO_TICKET,
    NON_EMERGENCIES,
    PARSE_SECONDS,
    PRANKS,
    SILENT_CHATS,
    THROTTLED,
    TURNS,
)
from bot.privacy import mask
from bot.services import Services
from bot.storage.models import (
    Contact,
    Conversation,
    Incident,
    Message,
    OutboxMessage,
    Ticket,
    TicketEvent,
    aware,
    utcnow,
)
from bot.tickets.routing import UNKNOWN_TYPE
from bot.tickets.views import CLOSED_STATUSES, TicketDetails, TicketView
from bot.triage import contacts
from bot.triage.senders import history, prank_score, record_prank
from nlu.model import NLU

log = logging.getLogger(__name__)

# Storing an inbound message has threads of its own, so a webhook's answer never queues behind
# the turns being processed; and only this many turns run at once in a process, so a burst of
# reports cannot starve the webhooks of the CPU (the others wait, stored, in order).
INGEST_THREADS = 4
TURNS_AT_ONCE = 2
# Every turn holds a database connection from its load to its save: at most this many turns of
# any channel at once in a process, fewer than the pool's connections (bot/storage/database.py)
# and the threads (bot/runtime.py), so storing a message never waits for a connection.
TURN_CONNECTIONS = 8
# How often each process looks for messages no turn finished, and how many it takes at a time.
SWEEP_SECONDS = 5.0
SWEEP_LIMIT = 500
# Below this the NLU is unsure of a message; twice running, an operator should look.
UNSURE_CONFIDENCE = 0.5
# A reporter asking for a person, even beside a report the safety rules keep as one.
ASKS_FOR_PERSON = 0.35
EMERGENCY = "report_emergency"

# The statements every turn runs, built once. A turn's message with its conversation, its contact
# and its newest open ticket with the ticket's incident (what the turn's actions ask the desk for
# first): the conversation's oldest message not processed, up to the one this turn is for; or one
# by id.
_OPEN_TICKET = (select(Ticket.id).where(Ticket.conversation_id == Conversation.id,
                                        Ticket.status.not_in(CLOSED_STATUSES))
                .order_by(Ticket.id.desc()).limit(1).correlate(Conversation).scalar_subquery())
_LOAD = (select(Message, Conversation, Contact, Ticket, Incident)
         .join(Conversation, Conversation.id == Message.conversation_id)
         .outerjoin(Contact, Contact.id == Conversation.contact_id)
         # By the conversation first: its few tickets through their index, not every ticket.
         .outerjoin(Ticket, and_(Ticket.conversation_id == Conversation.id, Ticket.id == _OPEN_TICKET))
         .outerjoin(Incident, Incident.id == Ticket.incident_id))
_NEXT_MESSAGE = (_LOAD.where(Message.conversation_id == bindparam("conversation"), Message.direction == "in",
                             Message.processed_at.is_(None), Message.id <= bindparam("up_to"))
                 .order_by(Message.id).limit(1))
_MESSAGE = _LOAD.where(Message.id == bindparam("message"))
_PROCESSED = update(Message).where(Message.id == bindparam("message")).values(processed_at=bindparam("now"))
# Ids in the order of the rows given: each goes on its reply in the transcript.
_ADD_OUTBOX = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)


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
        self.inbox = Inbox(services.db, services.regions)
        self.nlu = nlu
        self.engine = engine
        self.locks = locks or MemoryLocks()
        # Replies on these channels go through the outbox (written with the turn).
        self.push_channels = push_channels
        self._background: set[asyncio.Task[None]] = set()
        self._ingest = ThreadPoolExecutor(INGEST_THREADS, thread_name_prefix="ingest")
        self._turns = asyncio.Semaphore(TURNS_AT_ONCE)
        self._connections = asyncio.Semaphore(TURN_CONNECTIONS)
        # Each turn runs whole in one of these (one hand-over a turn, not one a step).
        self.turn_threads = TurnThreads(TURN_CONNECTIONS)
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
        loop = asyncio.get_running_loop()
        accepted, where = await loop.run_in_executor(self._ingest, self.inbox.store, message)
        if where is not None:
            await self.announce(accepted.conversation_id, "message", where)
        return accepted

    async def announce(self, conversation_id: int, kind: str, where: Where | None = None) -> None:
        """Tell the console a conversation changed (`where`: its region and public id, when the
        caller has them); a lost announcement loses nothing stored."""
        try:
            if where is None:
                where = await asyncio.to_thread(self.inbox.where, conversation_id)
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
        answered: list[OutboundMessage] = []
        last = 0
        async with self._connections, self.locks.hold(accepted.conversation_id):
            while last < accepted.message_id:
                done = await self._process_next(accepted)
                if done is None:  # nothing of it left unprocessed
                    break
                last, answered = done
        if not replies:
            return []
        if last == accepted.message_id:  # processed just now: the last one processed
            return answered
        # Processed before (a provider's retry): the replies it got then.
        return await asyncio.to_thread(self.inbox.replies_to, accepted.message_id)

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

    async def take_notifications(self, conversation_id: int) -> list[OutboundMessage]:
        """Pending outbox messages of a conversation, marked as delivered (pull channels); in a
        thread, as all database work: the loop answers every webhook."""
        return await asyncio.to_thread(self.inbox.take_notifications, conversation_id)

    async def close(self) -> None:
        """Release the live-update and rate-limit connections."""
        await self.events.close()
        await self.sender_rate.close()
        await self.throttled_replies.close()
        await asyncio.to_thread(self.turn_threads.close)

    async def drain(self) -> None:
        """Wait for background processing to finish (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def process_backlog(self, older_than: timedelta = timedelta(0)) -> int:
        """Process messages stored but never processed (a crash, a process killed, Redis or the
        database down during their turn), oldest first; returns how many."""
        ids = await asyncio.to_thread(self.inbox.unprocessed, older_than, SWEEP_LIMIT)
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

    async def _throttled(self, conversation: Conversation, allowed: asyncio.Future[bool]) -> bool:
        """Marked abusive, a prank record over the limit, or writing too fast (`allowed`: the
        sender's rate, counted on the loop as the turn began; a limiter that cannot answer
        throttles nobody)."""
        fast = not await self.turn_threads.result_of(allowed)
        record = prank_score(conversation.pranks or []) >= self.services.settings.prank_throttle_score
        return fast or record or conversation.abusive_since is not None

    # -- one turn -------------------------------------------------------------
    async def _process_next(self, accepted: Accepted) -> tuple[int, list[OutboundMessage]] | None:
        """The conversation's oldest message not processed yet, up to `accepted`, in one
        transaction: loaded, understood, saved (the tickets it opens or
        changes are the desk's, each in a short transaction of its own: an incident many reporters
        share is never locked for the length of a turn); the console told once it is committed.
        A turn that fails is rolled back (the tickets it opened stay) and the message answered with
        an apology and flagged for an operator; a report in it gets its ticket. Returns its id and
        replies; None when no message up to `accepted` waits."""
        # Every message counts towards its sender's rate, counted here (the limiter's client is
        # this loop's) while the turn loads and parses it: the turn reads the answer, no hand-over
        # back to this loop in its middle.
        allowed = asyncio.ensure_future(_allowed(self.sender_rate, str(accepted.conversation_id)))
        done = await self.turn_threads.run(lambda: self._understood(accepted, allowed))
        if done is None:
            return None
        conversation = done.conversation
        if done.intent is None:  # held by an operator: stored, not answered
            await self.announce(conversation.id, "message", done.saved.where)
            return done.message_id, []
        await self.announce(conversation.id, "turn", done.saved.where)
        TURNS.labels(conversation.channel, done.intent).inc()
        log.info("conversation %s (%s %s): intent %s, %s", conversation.id, conversation.channel,
                 mask(conversation.sender_id), done.intent, done.kind)
        return done.message_id, done.saved.replies

    async def _understood(self, accepted: Accepted, allowed: asyncio.Future[bool]) -> _Done | None:
        """The turn, in a turn thread (bot/coordination/threads.py): its hand-overs run in place."""
        try:
            async with self.db.transaction():
                return await self._understand(accepted, allowed)
        except _TurnFailed as failed:
            return await self._after_failure(failed)

    async def _understand(self, accepted: Accepted, allowed: asyncio.Future[bool]) -> _Done | None:
        loaded = await asyncio.to_thread(self._load_and_parse, accepted)
        if loaded is None:
            return None
        conversation, message, silent_before, parse = loaded
        if parse is None:
            # An operator holds the conversation: the bot stays silent, the console shows it.
            saved = await asyncio.to_thread(self._save, conversation.id, message.id, None, None)
            return _Done(message.id, conversation, None, "held", saved)
        words_signal = bool(parse.hazards or parse.cues or parse.help_call)
        signal = parse.intent.name == EMERGENCY or words_signal
        try:
            state = self._state(conversation)
        except Exception as error:  # a stored state this version cannot read: apologised for
            raise _TurnFailed.logged(conversation.id, message.id, None, message.text, parse,
                                     signal) from error
        # A dot or a sticker has no words for the classifier to weigh: its intent is noise.
        if not words_signal and contacts.trivial(message.text, message.payload) and not _reporting(state):
            outcome = self._silent(conversation, state, silent_before)
        else:
            outcome = await self._turn(conversation, message, state, parse, signal, allowed)
        # A failed flush expires the rows: what the failure needs is read first.
        ident, message_id, text_ = conversation.id, message.id, message.text
        try:
            saved = await asyncio.to_thread(self._save, ident, message.id, state, outcome,
                                            aware(message.created_at))
        except Exception as error:  # what the turn saves is refused: rolled back and apologised for
            raise _TurnFailed.logged(ident, message_id, state.slots.get("user_language"), text_, parse,
                                     signal) from error
        return _Done(message_id, conversation, parse.intent.name, outcome.kind, saved)

    async def _after_failure(self, failed: _TurnFailed) -> _Done:
        """The apology for a failed turn; when even that cannot be saved while the servers answer
        (something in the conversation itself is refused), the message is set aside for an
        operator: a message no turn can finish must not hold back every later one of its sender,
        retried by the sweep for ever. A server that does not answer leaves it to the sweep."""
        try:
            async with self.db.transaction():
                return await self._apologise(failed)
        except Exception as error:
            if _outage(error):
                raise
            log.exception("the apology for message %s failed too: set aside for an operator",
                          failed.message_id)
        async with self.db.transaction():
            return await asyncio.to_thread(self._set_aside, failed.message_id)

    def _set_aside(self, message_id: int) -> _Done:
        """The message marked processed, unanswered, its conversation flagged; nothing else of
        the turn (its dialogue state is left as it was)."""
        loaded = self._load(_MESSAGE, {"message": message_id})
        assert loaded is not None  # stored before its turn, and never deleted under it
        conversation, _message, _silent = loaded
        with self.db.session() as session:
            session.connection().execute(_PROCESSED, {"message": message_id, "now": utcnow()})
            _flag(conversation, "turn_failed")
            session.flush()
        where = (self.services.regions.code(conversation.region), conversation.public_id)
        return _Done(message_id, conversation, "failed", "set_aside", _Saved(where, []))

    async def _apologise(self, failed: _TurnFailed) -> _Done:
        """The failed turn's message, answered with an apology and flagged; a report still gets
        its ticket (the dialogue goes on about it)."""
        loaded = await asyncio.to_thread(self._load, _MESSAGE, {"message": failed.message_id})
        assert loaded is not None  # stored before its turn, and never deleted under it
        conversation, message, _silent = loaded
        state = self._state(conversation, fresh_if_unreadable=True)
        outcome = Outcome([{"text": _apology(failed.language)}], flag="turn_failed")
        if failed.report is not None:
            ticket = await asyncio.to_thread(self._safety_ticket, conversation.id, failed.report,
                                             failed.language)
            if ticket is not None:
                state.slots.update(ticket_id=float(ticket.id), emergency_type=ticket.emergency_type)
                outcome.kind = "incident"
        saved = await asyncio.to_thread(self._save, conversation.id, message.id, state, outcome,
                                        aware(message.created_at))
        return _Done(message.id, conversation, "failed", outcome.kind, saved)

    def _state(self, conversation: Conversation, fresh_if_unreadable: bool = False) -> DialogueState:
        """The conversation's dialogue state; with `fresh_if_unreadable`, a new one in place of a
        stored state that cannot be read (an operator reads the flagged conversation)."""
        initial = self.services.domain.initial_slots()
        try:
            return DialogueState.from_json(conversation.tracker, initial)
        except Exception:
            if not fresh_if_unreadable:
                raise
            log.exception("dialogue state of conversation %s unreadable: started anew", conversation.id)
            return DialogueState.from_json({}, initial)

    def _safety_ticket(self, conversation_id: int, report: tuple[str, TicketDetails],
                       language: Any) -> TicketView | None:
        """The conversation's open ticket, else one opened from the failed turn's parse; None when
        that fails too (an operator reads the flagged message)."""
        desk = self.services.desk
        kind, details = report
        try:  # the desk's own transactions: a ticket the failed turn opened is there
            return desk.open_for_conversation(conversation_id) or desk.open(
                conversation_id, kind, "en" if language == "en" else "id", details)
        except Exception:
            log.exception("no ticket for the failed turn of conversation %s", conversation_id)
            return None

    def _silent(self, conversation: Conversation, state: DialogueState, silent_before: int) -> Outcome:
        """A dot, a sticker, one character: how to report, said once a contact; never throttled,
        so whatever the sender writes next is served at once."""
        if silent_before:
            return Outcome(kind="silent")
        reply = render(self.services.domain.responses, "utter_silent", state.slots, conversation.channel)
        return Outcome([reply], kind="silent")

    async def _turn(self, conversation: Conversation, message: Message, state: DialogueState,
                    parse: Any, signal: bool, allowed: asyncio.Future[bool]) -> Outcome:
        turn = Turn(
            sender_id=str(conversation.id),
            channel=conversation.channel,
            text=message.text,
            parse=parse.to_dict(),
            metadata={"message_id": message.id, **message.payload},
        )
        outcome = Outcome(flag=_person_wanted(parse.intent_ranking))
        throttled = await self._throttled(conversation, allowed)
        language, ident, message_id = state.slots.get("user_language"), conversation.id, message.id
        try:
            outcome.replies = await self.engine.handle(state, turn)
        except Exception as error:  # only the ids are read: the rows may be expired
            raise _TurnFailed.logged(ident, message_id, language, turn.text, parse, signal) from error
        if throttled and not signal and outcome.replies:
            reporting = await asyncio.to_thread(self.services.desk.open_for_conversation, conversation.id)
            if reporting is None and not await self.turn_threads.on_loop(
                    _allowed(self.throttled_replies, str(conversation.id))):
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

    def _load_and_parse(self, accepted: Accepted) -> tuple[Conversation, Message, int, Any] | None:
        """The conversation's oldest message not processed, up to `accepted`, loaded (`_load`) and
        understood unless an operator holds the conversation; None when there is none. One query."""
        loaded = self._load(_NEXT_MESSAGE, {"conversation": accepted.conversation_id,
                                            "up_to": accepted.message_id})
        if loaded is None:
            return None
        conversation, message, silent = loaded
        if conversation.held_by_operator:
            return conversation, message, silent, None
        try:
            with PARSE_SECONDS.time():
                return conversation, message, silent, self.nlu.parse(message.text, _gps(message.payload))
        except Exception as error:  # a text the NLU cannot take: apologised for, an operator reads it
            raise _TurnFailed.logged(conversation.id, message.id, conversation.language, message.text,
                                     None, False) from error

    def _load(self, query: Any, values: dict[str, int]) -> tuple[Conversation, Message, int] | None:
        """The message `query` selects, its conversation and how silent its contact has been:
        one query, which gives the desk the conversation's open ticket for the turn too."""
        with self.db.session() as session:
            found = session.execute(query, values).first()
            if found is None:
                return None
            message, conversation, contact, ticket, _incident = found  # the ticket's, in the session
            self.services.desk.remember_open(conversation.id, ticket)
            silent = contact.silent if contacts.live(contact, utcnow(), self._contact_length) else 0
            return conversation, message, silent

    @property
    def _contact_length(self) -> timedelta:
        return timedelta(minutes=self.services.domain.session_expiration_minutes or 60)

    def _save(self, conversation_id: int, message_id: int, state: DialogueState | None,
              outcome: Outcome | None, received: datetime | None = None) -> _Saved:
        """The turn's last step: the dialogue state, the contact, the marks, the replies (and their
        outbox), then the turn's transaction committed."""
        with self.db.session() as session:
            # The region the desk gave it in this turn is read afresh (bot/storage/database.py).
            conversation = session.get_one(Conversation, conversation_id)
            replies = [OutboundMessage.of(r) for r in (outcome.replies if outcome is not None else [])]
            if state is not None and outcome is not None:
                self._note(session, conversation, state, outcome, received or utcnow())
            now = utcnow()
            conversation.updated_at = now
            # The conversation's row is locked first, as the ingest locks it (then a message it
            # counts a repeat on): a message stored during this save waits for the commit. Marking
            # the message first deadlocked with it (the ingest got a 503).
            session.flush()
            connection = session.connection()  # the rows below: one statement each, no unit of work
            connection.execute(_PROCESSED, {"message": message_id, "now": now})
            payloads = [{k: v for k, v in out.to_dict().items() if k != "text"} for out in replies]
            recorded = [dict(payload) for payload in payloads]
            if conversation.channel in self.push_channels and replies:
                ids = connection.scalars(_ADD_OUTBOX, [
                    {"conversation_id": conversation_id, "channel": conversation.channel, "text": out.text,
                     "payload": payload} for out, payload in zip(replies, payloads, strict=True)]).all()
                for outbox_id, entry in zip(ids, recorded, strict=True):
                    entry["outbox_id"] = outbox_id  # the transcript shows its delivery status
            if replies:
                connection.execute(insert(Message), [
                    {"conversation_id": conversation_id, "channel": conversation.channel, "direction": "out",
                     "text": out.text, "reply_to_id": message_id, "payload": entry, "created_at": now}
                    for out, entry in zip(replies, recorded, strict=True)])
            where = (self.services.regions.code(conversation.region), conversation.public_id)
            # The turn's last step: committed here, so what the database refuses (of the save or of
            # what the actions wrote) is refused inside the turn's error handling.
            self.db.commit_now()
            # As the transcript records them (what `Inbox.replies_to` reads back for a retry).
            return _Saved(where, [recorded_reply(out.text, entry)
                                  for out, entry in zip(replies, recorded, strict=True)])

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
        if flag:
            _flag(conversation, flag)
        now = utcnow()
        silent = outcome.kind == "silent"
        contact, first_report = contacts.note(session, conversation, outcome.kind, target=outcome.target,
                                              silent=silent, region=outcome.region, received=received,
                                              now=now, length=self._contact_length)
        if first_report:
            FIRST_MESSAGE_TO_TICKET.observe((now - aware(contact.started_at)).total_seconds())
        if silent and contact.silent == 1:
            SILENT_CHATS.labels(region).inc()
        if outcome.kind == "information":
            NON_EMERGENCIES.labels(outcome.region or region, outcome.target or "default").inc()
        if outcome.close:
            # Not an emergency, nothing under way: closed without a ticket (the board lets it go).
            conversation.closed_at, conversation.contact_id = now, None


class _Saved(NamedTuple):
    where: Where
    replies: list[OutboundMessage]


class _Done(NamedTuple):
    """A processed message: its id, its conversation, the intent (None: an operator holds it),
    what its contact became, and what was saved."""

    message_id: int
    conversation: Conversation
    intent: str | None
    kind: str
    saved: _Saved


class _TurnFailed(Exception):
    """The dialogue engine or an action failed: the turn is rolled back and apologised for;
    `report`: what a ticket needs, when the message reported an emergency."""

    def __init__(self, message_id: int, language: Any, report: tuple[str, TicketDetails] | None) -> None:
        super().__init__("turn failed")
        self.message_id = message_id
        self.language = language
        self.report = report

    @classmethod
    def logged(cls, conversation_id: int, message_id: int, language: Any, text: str, parse: Any,
               signal: bool) -> _TurnFailed:
        """The failure of a turn whose message said `text` (a report when it had an emergency
        signal), logged with the error being handled."""
        log.exception("turn failed for conversation %s", conversation_id)
        return cls(message_id, language, _report(text, parse) if signal else None)


def _report(text: str, parse: Any) -> tuple[str, TicketDetails]:
    """The emergency type and details a message's parse gives, for a ticket without the dialogue."""
    kind = parse.emergency_type.name if parse.emergency_type else UNKNOWN_TYPE
    place = parse.location
    return kind, TicketDetails(description=text, location_text=place.text if place else None,
                               location=place.to_dict() if place else None, cues=tuple(parse.cues))


def _gps(payload: dict[str, Any]) -> tuple[float, float] | None:
    location = payload.get("location")
    if not location:
        return None
    return (float(location["latitude"]), float(location["longitude"]))


def _flag(conversation: Conversation, why: str) -> None:
    """Why an operator should look now; a reporter's own request for a person is never overwritten."""
    if conversation.needs_person != "request_human":
        conversation.needs_person = why


def _outage(error: BaseException) -> bool:
    """The database or Redis not answering (down, restarting, its connection lost): what the
    sweep retries. A refusal of what was sent (a constraint, a value, a bug) is not one."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError)
    return isinstance(error, SQLAlchemyTimeout | RedisConnectionError | RedisTimeout | OSError)


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
