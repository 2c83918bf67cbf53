"""The ticket desk: a ticket per reporter, opened as soon as the type is known and updated as
details arrive; each joins the incident it reports (or opens one), and every change of the
incident is published once to each of its agencies, in the same transaction. A busy incident
(dozens of reporters of one collapse) owes the changes of its last second to one notice."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, defer, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from bot.dispatch.queue import publish
from bot.metrics import TICKETS_OPENED
from bot.storage.database import Database
from bot.storage.models import Conversation, Incident, Ticket, TicketEvent, aware, utcnow
from bot.tickets import incidents
from bot.tickets.document import document
from bot.tickets.priority import Priorities
from bot.tickets.regions import Regions
from bot.tickets.routing import Routing
from bot.tickets.views import (
    CLOSED_STATUSES,
    MOVEMENT,
    STATUSES,
    TicketClosed,
    TicketDetails,
    TicketNotFound,
    TicketView,
)


@dataclass(frozen=True)
class OperatorEdit:
    """What an operator changes on a ticket; None leaves a field as it is ("" clears an override)."""

    emergency_type: str | None = None
    location_text: str | None = None
    location: dict[str, Any] | None = None
    priority: str | None = None
    agencies: list[str] | None = None
    note: str = ""


# Each notice carries every reporter of the incident: one per reporter's update would cost each
# update of a collapse with 200 reporters the whole incident (80 ms, 136 kB; bench/incident.py).
# So a new reporter joining and a reporter's details (a place in the incident's centre included),
# within this long of the incident's last notice, are owed, not published: the publisher job
# (`publish_owed`), or the incident's next change after the gap, sends one notice with all of
# them. An incident's first notice, a new or further type, a place in another centre and every
# operator's and dispatcher's change go out at once.
PUBLISH_GAP = timedelta(seconds=1)
# The change an owed notice names when several were owed, weakest first (its history lists each).
OWED_RANK = ("updated", "merged")

# The desk never reads a conversation's dialogue tracker (kilobytes, a turn's memory).
_NO_TRACKER = defer(Conversation.tracker)

# Told to every reporter of an incident when its status changes (bot/delivery/notices.py).
StatusHook = Callable[[Session, TicketView], None]


@dataclass(frozen=True)
class Rules:
    """The content the desk decides with."""

    routing: Routing
    regions: Regions
    priorities: Priorities
    matching: incidents.Matching


_Write = TypeVar("_Write", bound=Callable[..., Any])


def _writes(method: _Write) -> _Write:
    """A change of tickets: inside a turn, the views the turn has read are forgotten and the
    changed ticket's view remembered (what the turn asks for next)."""
    @functools.wraps(method)
    def write(self: TicketDesk, *args: Any, **kwargs: Any) -> Any:
        memo = self.db.turn_memo()
        if memo is None:
            return method(self, *args, **kwargs)
        memo.clear()
        result = method(self, *args, **kwargs)
        view = result[0] if isinstance(result, tuple) else result
        memo[view.id] = replace(view, joined=False)
        return result
    return write  # type: ignore[return-value]


class TicketDesk:
    """Creates, updates and closes tickets and their incidents, and publishes each change. Inside
    a turn, a ticket read once is not read again until the turn changes a ticket: an operator's
    change during those milliseconds is seen by the next turn, as if it came just after the read."""

    def __init__(self, db: Database, rules: Rules) -> None:
        self.db = db
        self.rules = rules
        self.routing = rules.routing

    # -- a reporter's ticket ---------------------------------------------------------------
    @_writes
    def open(self, conversation_id: int, emergency_type: str, language: str,
             details: TicketDetails) -> TicketView:
        """Open a ticket at once (the location may follow), join or open its incident, publish."""
        with self.db.own_session() as session:
            # Routed, joined to its incident and synced before the first flush: one INSERT of
            # each row, no UPDATE after it.
            conversation = session.get_one(Conversation, conversation_id, options=[_NO_TRACKER])
            ticket = Ticket(conversation=conversation,
                            emergency_type=emergency_type, language=language, status="new", agencies=[],
                            other_types=[], cues=[], priority="high", created_at=utcnow())
            _apply(ticket, details)
            self._route(ticket)
            session.add(ticket)
            session.add(TicketEvent(ticket=ticket, kind="created", note=emergency_type))
            self._hold_matching(session, ticket)
            joined = self._attach(session, ticket)
            session.flush()  # inserted (when no notice went out yet): its number is its id
            TICKETS_OPENED.labels(ticket.emergency_type, ticket.priority).inc()
            return TicketView.of(ticket, joined=joined)

    @_writes
    def update(self, ticket_id: int, details: TicketDetails) -> TicketView:
        """Add details (a place, cues, photos): re-route, maybe join another report's incident."""
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            place = (ticket.location_text, ticket.location)
            _apply(ticket, details)
            # Only a new place can make it another report's emergency (each new report looks for
            # the incidents already at its place).
            moved = (ticket.location_text, ticket.location) != place
            return self._changed(session, ticket, "updated", "", rematch=moved)

    @_writes
    def add_type(self, ticket_id: int, other_type: str, details: TicketDetails) -> TicketView:
        """A further emergency of the same report (a fire, then someone unconscious): the ticket
        keeps its type and gains the other type's agencies."""
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            _apply(ticket, details)
            if other_type in (ticket.emergency_type, *ticket.other_types):
                return self._changed(session, ticket, "updated", "")
            ticket.other_types = [*ticket.other_types, other_type]
            return self._changed(session, ticket, "type_added", other_type)

    @_writes
    def retype(self, ticket_id: int, emergency_type: str, details: TicketDetails,
               actor: str = "bot") -> tuple[TicketView, str]:
        """The type arrives (it was unknown) or is corrected: routed anew; the agencies it no longer
        concerns are told it was withdrawn. Returns the old type too."""
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            _apply(ticket, details)
            old = ticket.emergency_type
            if old == emergency_type:
                return self._changed(session, ticket, "updated", ""), old
            ticket.emergency_type = emergency_type
            ticket.other_types = [t for t in ticket.other_types if t != emergency_type]
            return self._changed(session, ticket, "type_changed", f"{old} -> {emergency_type}", actor), old

    @_writes
    def operator_edit(self, ticket_id: int, actor: str, edit: OperatorEdit) -> TicketView:
        """An operator's correction of a ticket (console): routed anew and published as any change
        is; a new type goes through `retype`. The priority and agencies an operator sets are kept
        over the rules' until they clear them."""
        if edit.emergency_type:
            self.retype(ticket_id, edit.emergency_type, TicketDetails(), actor)
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            changes = []
            if edit.location_text is not None or edit.location is not None:
                ticket.location_text = edit.location_text or ticket.location_text
                ticket.location = edit.location or {"words": edit.location_text, "source": "text"}
                changes.append(f"location: {ticket.location_text}")
            if edit.priority is not None:
                if edit.priority and edit.priority not in self.rules.priorities.ranks:
                    raise ValueError(f"unknown priority {edit.priority!r}")
                ticket.priority_override = edit.priority or None
                changes.append(f"priority: {edit.priority or 'by the rules'}")
            if edit.agencies is not None:
                unknown = sorted(set(edit.agencies) - set(self.routing.names))
                if unknown:
                    raise ValueError(f"unknown agencies {unknown}")
                ticket.agencies_override = list(dict.fromkeys(edit.agencies)) or None
                changes.append(f"agencies: {', '.join(edit.agencies) or 'by the rules'}")
            if edit.note:
                session.add(TicketEvent(ticket_id=ticket.id, kind="note", actor=actor[:64], note=edit.note))
            if not changes and not edit.note:
                return TicketView.of(ticket)
            moved = edit.location_text is not None or edit.location is not None
            return self._changed(session, ticket, "updated", "; ".join(changes) or "note", actor,
                                 rematch=moved)

    # -- the incident --------------------------------------------------------------------------
    @_writes
    def set_status(self, ticket_id: int, status: str, actor: str, note: str = "",
                   also: StatusHook | None = None, now: datetime | None = None) -> TicketView:
        """A dispatcher's status change is the incident's: every ticket of it follows, and `also`
        (the message to each reporter) is written in the same transaction. A reporter cancelling
        cancels only their ticket while others still report the incident."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            if ticket.status in CLOSED_STATUSES:
                raise TicketClosed(f"ticket {ticket.number} is {ticket.status}")
            incident = self._incident_of(session, ticket)
            others = [t for t in incident.tickets if t.id != ticket.id and t.status not in CLOSED_STATUSES]
            if actor == "reporter" and status == "cancelled" and others:
                ticket.status = status
                session.add(TicketEvent(ticket_id=ticket.id, kind="status", status=status, actor=actor,
                                        note=note))
                return self._changed(session, ticket, "updated", "a reporter withdrew")
            moment = now or utcnow()
            incident.status = status
            if status in MOVEMENT and incident.first_movement_at is None:
                incident.first_movement_at = moment
            session.add(TicketEvent(ticket_id=ticket.id, incident_id=incident.id, kind="status",
                                    status=status, actor=actor[:64], note=note))
            for each in incident.tickets:
                if each.status not in CLOSED_STATUSES:
                    each.status, each.updated_at = status, moment
            incident.updated_at = moment
            self._publish(session, incident, "status")
            if also is not None:
                for each in incident.tickets:
                    if each.status == status:
                        also(session, TicketView.of(each))
            return TicketView.of(ticket)

    @_writes
    def split(self, ticket_id: int, actor: str) -> TicketView:
        """An operator says this report is another emergency: it leaves its incident for one of
        its own; both incidents are published."""
        with self.db.own_session() as session:
            ticket = _get(session, ticket_id)
            old = self._incident_of(session, ticket)
            if len(old.tickets) > 1:
                self._detach(session, ticket, old, actor)
                self._sync_and_publish(session, self._incident_of(session, ticket), "split")
            return TicketView.of(ticket)

    # -- reading -------------------------------------------------------------------------------
    def remembered(self, ticket_id: int) -> tuple[bool, TicketView | None]:
        """A ticket this turn has read already, without the database: (whether known, its view)."""
        return self._remembered(ticket_id)

    def remembered_open(self, conversation_id: int) -> tuple[bool, TicketView | None]:
        """The conversation's open ticket, when this turn has asked for it already (as `remembered`)."""
        return self._remembered(("open", conversation_id))

    def get(self, ticket_id: int) -> TicketView:
        """One ticket."""
        known, view = self.remembered(ticket_id)
        if known and view is not None:
            return view
        with self.db.reading() as session:
            view = TicketView.of(_get(session, ticket_id))
        self._remember(ticket_id, view)
        return view

    def open_for_conversation(self, conversation_id: int) -> TicketView | None:
        """The conversation's newest ticket that is not closed."""
        known, view = self.remembered_open(conversation_id)
        if known:
            return view
        query = (select(Ticket).where(Ticket.conversation_id == conversation_id)
                 .where(Ticket.status.not_in(CLOSED_STATUSES)).order_by(Ticket.id.desc()).limit(1)
                 .options(joinedload(Ticket.incident)))
        with self.db.reading() as session:
            ticket = session.scalars(query.execution_options(populate_existing=True)).first()
            return self.remember_open(conversation_id, ticket)

    def remember_open(self, conversation_id: int, ticket: Ticket | None) -> TicketView | None:
        """The conversation's open ticket (with its incident) as the turn read it: its view, which
        the turn's next asks for it, and for the ticket, are answered with."""
        view = TicketView.of(ticket) if ticket else None
        self._remember(("open", conversation_id), view)
        if view is not None:
            self._remember(view.id, view)
        return view

    def _remembered(self, key: int | tuple[str, int]) -> tuple[bool, TicketView | None]:
        memo = self.db.turn_memo()
        if memo is None or key not in memo:
            return False, None
        return True, memo[key]

    def _remember(self, key: int | tuple[str, int], view: TicketView | None) -> None:
        memo = self.db.turn_memo()
        if memo is not None:
            memo[key] = view

    # -- inside ----------------------------------------------------------------------------------
    def _route(self, ticket: Ticket) -> str:
        """The ticket's agencies (its types, further types, cues) and priority; returns the code of
        the centre its place is in."""
        centre = self.rules.regions.centre_for(ticket.location)
        wanted = [a for kind in (ticket.emergency_type, *ticket.other_types)
                  for a in self.routing.agencies_for(kind, ticket.cues, centre.routes)]
        ticket.agencies = self.routing.without_desk(list(dict.fromkeys(wanted)))
        if ticket.agencies_override:
            ticket.agencies = list(ticket.agencies_override)
        kinds = (ticket.emergency_type, *ticket.other_types)
        ticket.priority = ticket.priority_override or self.rules.priorities.higher(
            *(self.rules.priorities.of(kind, ticket.cues) for kind in kinds))
        ticket.updated_at = utcnow()
        return centre.code

    def _changed(self, session: Session, ticket: Ticket, kind: str, note: str,
                 actor: str = "bot", rematch: bool = True) -> TicketView:
        if rematch:
            self._hold_matching(session, ticket)
        centre = self._route(ticket)
        session.add(TicketEvent(ticket_id=ticket.id, kind=kind, note=note, actor=actor[:64]))
        incident = self._incident_of(session, ticket)
        if kind == "type_changed" and len(incident.tickets) > 1:
            # Corrected to another emergency: no longer the incident the others report.
            self._detach(session, ticket, incident, actor)
        # A reporter's details (a place in the incident's centre included) may wait for a busy
        # incident's next notice; a new type, a place in another centre and an operator's word may not.
        owe = actor == "bot" and kind == "updated"
        joined = self._attach(session, ticket, kind, rematch, owe=owe, centre=centre)
        return TicketView.of(ticket, joined=joined)

    def _hold_matching(self, session: Session, ticket: Ticket) -> None:
        """One report of a type at a time looks for its incident, until its transaction commits:
        two first reports of one emergency in two turns (two processes) would each find no incident
        and open one each. The second now waits, then finds the first's."""
        if incidents.can_match(ticket):
            self.db.hold(session, f"match:{ticket.emergency_type}")

    def _attach(self, session: Session, ticket: Ticket, change: str = "created",
                rematch: bool = True, owe: bool = True, centre: str | None = None) -> bool:
        """Join the incident another reporter opened, when this report is the same emergency
        (unless told it cannot have become one: `rematch`); else keep (or open) its own.
        Publishes (a reporter's change to a busy incident is owed: `owe`, unless the ticket's
        place is in another `centre` than the incident's, see `_owed`); returns whether it joined
        another's incident."""
        own = ticket.incident
        match = None
        if rematch:
            with session.no_autoflush:  # a new ticket is inserted once, with its incident
                match = incidents.find_match(session, ticket, self.rules.matching)
        if match is not None and (own is None or len(own.tickets) <= 1):
            ticket.incident = match
            # Written with the ticket (a new one is inserted with both its events in one
            # statement); the history names the ticket.
            session.add(TicketEvent(ticket=ticket, incident_id=match.id, kind="merged",
                                    note="reports the same emergency"))
            if own is not None:
                self._retire(session, own, match, ticket)
            if not (owe and self._owed(match, "merged", joining=ticket)):
                self._sync_and_publish(session, match, "merged")
            return True
        change = change if change in ("created", "type_changed") else "updated"
        if own is None:
            own = Incident(emergency_type=ticket.emergency_type, status="new",
                           created_at=ticket.created_at or utcnow())
            session.add(own)
            ticket.incident = own
            self._sync_and_publish(session, own, change, reread=False)  # its only ticket, in hand
            return False
        if not (owe and self._owed(own, change, centre=centre)):
            self._sync_and_publish(session, own, change)
        return False

    def _detach(self, session: Session, ticket: Ticket, old: Incident, actor: str) -> None:
        """Move a ticket out of a shared incident into one of its own; the old one is published."""
        fresh = Incident(emergency_type=ticket.emergency_type, status=ticket.status,
                         created_at=ticket.created_at)
        session.add(fresh)
        session.flush()
        ticket.incident = fresh
        session.flush()
        session.expire(old, ["tickets"])
        session.add(TicketEvent(ticket_id=ticket.id, incident_id=old.id, kind="split", actor=actor[:64],
                                note=f"{ticket.number} split off"))
        session.add(TicketEvent(ticket_id=ticket.id, incident_id=fresh.id, kind="split", actor=actor[:64],
                                note=f"split from inc-{old.public_id}"))
        self._sync_and_publish(session, old, "split")

    def _retire(self, session: Session, old: Incident, into: Incident, moved: Ticket) -> None:
        """A solo incident whose report joined another: its agencies hear where it went, in a last
        notice that still names the report it held."""
        set_committed_value(old, "tickets", [moved])
        old.merged_into_id, old.status, old.updated_at = into.id, "cancelled", utcnow()
        old.publish_owed = None  # this last notice tells it all
        session.add(TicketEvent(ticket_id=moved.id, incident_id=old.id, kind="merged",
                                note=f"merged into inc-{into.public_id}"))
        publish(session, document(session, old, "merged", self.rules.priorities, self.rules.regions),
                list(old.agencies or []), ticket_id=moved.id, incident_id=old.id, region=old.region)

    def _incident_of(self, session: Session, ticket: Ticket) -> Incident:
        """The ticket's incident (tickets from before incidents get one of their own)."""
        if ticket.incident is None:
            self._attach(session, ticket)
        assert ticket.incident is not None
        return ticket.incident

    def _sync_and_publish(self, session: Session, incident: Incident, change: str,
                          reread: bool = True) -> None:
        """The incident made what its reports say now, then published. Another reporter's ticket
        may have joined since it was read: its tickets are read again, with their conversations
        (`reread`; not for an incident this session made, flushed once by the publish)."""
        if reread:
            session.flush()
            tickets = session.scalars(select(Ticket).where(Ticket.incident_id == incident.id)
                                      .options(joinedload(Ticket.conversation).options(_NO_TRACKER))
                                      .order_by(Ticket.id)).all()
            set_committed_value(incident, "tickets", list(tickets))
        withdrawn = incidents.sync(incident, self.rules.priorities, self.rules.regions)
        change = _stronger(incident.publish_owed, change)
        incident.publish_owed = None  # this notice carries what was owed
        self._publish(session, incident, change, withdrawn)

    def _owed(self, incident: Incident, change: str, joining: Ticket | None = None,
              centre: str | None = None) -> bool:
        """When the incident was published within the gap (and a ticket's place in `centre` is in
        the incident's): `change` owed to its next notice, and True; the reporter `joining` it is
        in the incident's region meanwhile."""
        now = utcnow()
        if change not in OWED_RANK or not _within_gap(incident, now):
            return False
        if centre is not None and centre != incident.region:  # its region may change: at once
            return False
        incident.publish_owed = _stronger(incident.publish_owed, change)
        incident.updated_at = now  # a report of it just came (what matching looks back to)
        if joining is not None and incident.region:
            joining.conversation.region = incident.region
        return True

    def publish_owed(self, now: datetime | None = None) -> int:
        """One notice for each incident that owes one and whose gap has passed, with every change
        since its last; how many were published. An incident is locked as it is taken (another
        process skips it), in a transaction of its own."""
        moment = now or utcnow()
        # A merged incident owes nothing: its last notice said where it went (`_retire`).
        due = (select(Incident.id)
               .where(Incident.publish_owed.is_not(None), Incident.merged_into_id.is_(None))
               .where(or_(Incident.published_at.is_(None), Incident.published_at <= moment - PUBLISH_GAP))
               .order_by(Incident.updated_at).limit(100))
        with self.db.own_session() as session:
            ids = list(session.scalars(due))
        published = 0
        for ident in ids:
            with self.db.own_session() as session:
                incident = session.get(Incident, ident, with_for_update={"skip_locked": True})
                if incident is None or incident.publish_owed is None or _within_gap(incident, moment):
                    continue  # another process has it, or has published it since it was listed
                self._sync_and_publish(session, incident, incident.publish_owed)
                published += 1
        return published

    def _publish(self, session: Session, incident: Incident, change: str,
                 withdrawn: list[str] | None = None) -> None:
        """One notice per agency of the incident (and a `withdrawn` one to each it left)."""
        incident.published_at = utcnow()
        session.flush()
        primary = incident.tickets[0].id
        doc = document(session, incident, change, self.rules.priorities, self.rules.regions)
        publish(session, doc, list(incident.agencies), ticket_id=primary, incident_id=incident.id,
                region=incident.region)
        if withdrawn:
            gone = document(session, incident, "withdrawn", self.rules.priorities, self.rules.regions)
            publish(session, gone, withdrawn, ticket_id=primary, incident_id=incident.id,
                    region=incident.region)


def _within_gap(incident: Incident, now: datetime) -> bool:
    """The incident's last notice is less than PUBLISH_GAP old."""
    last = incident.published_at
    return last is not None and aware(last) > now - PUBLISH_GAP


def _stronger(owed: str | None, change: str) -> str:
    """The change a notice names: `change`, unless an owed one ranks above it (OWED_RANK; a change
    outside it, an operator's or the first, is named as it is)."""
    if owed not in OWED_RANK or change not in OWED_RANK:
        return change
    return owed if OWED_RANK.index(owed) > OWED_RANK.index(change) else change


def _get(session: Session, ticket_id: int) -> Ticket:
    """The ticket and its incident, read afresh (a turn's session may hold an older copy)."""
    ticket = session.get(Ticket, ticket_id, options=[joinedload(Ticket.incident)], populate_existing=True)
    if ticket is None:
        raise TicketNotFound(ticket_id)
    return ticket


def _apply(ticket: Ticket, details: TicketDetails) -> None:
    if details.description:
        ticket.description = (
            f"{ticket.description}\n{details.description}".strip()
            if ticket.description and details.description not in ticket.description
            else ticket.description or details.description
        )[-4000:]
    if details.location_text:
        ticket.location_text = details.location_text
    if details.location:
        ticket.location = details.location
    if details.people_injured:
        ticket.people_injured = details.people_injured
    if details.attachments:
        ticket.attachments = list(dict.fromkeys([*(ticket.attachments or []), *details.attachments]))
    if details.cues:
        ticket.cues = sorted(set(ticket.cues or []) | set(details.cues))
