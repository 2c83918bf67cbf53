"""The embedded dispatch queue: a table in the same database as the tickets.

A change is queued in the same transaction that changes the ticket, so a ticket is
never stored without its dispatch notice (nor the other way round).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.database import Database
from bot.models import DispatchItem, utcnow

if TYPE_CHECKING:
    from bot.tickets import TicketView


@dataclass(frozen=True)
class Delivery:
    """A queued notice for one agency."""

    id: int
    agency: str
    payload: dict[str, Any]


class TableDispatchQueue:
    """Publish ticket changes per agency; agencies fetch and acknowledge them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def publish(self, session: Session, ticket: TicketView, change: str) -> None:
        """Queue a notice of `change` for each of the ticket's agencies, in `session`."""
        for agency in ticket.agencies:
            payload = {"change": change, "agency": agency, "ticket": ticket.to_dict()}
            session.add(DispatchItem(agency=agency, ticket_id=ticket.id, payload=payload))

    def pending(self, agency: str, limit: int = 100) -> list[Delivery]:
        """Unacknowledged notices of an agency, oldest first."""
        query = (
            select(DispatchItem)
            .where(DispatchItem.agency == agency, DispatchItem.acked_at.is_(None))
            .order_by(DispatchItem.id)
            .limit(limit)
        )
        with self.db.session() as session:
            return [Delivery(i.id, i.agency, dict(i.payload)) for i in session.scalars(query)]

    def ack(self, agency: str, ids: list[int]) -> int:
        """Acknowledge notices; returns how many were newly acknowledged."""
        if not ids:
            return 0
        with self.db.session() as session:
            result = session.execute(
                update(DispatchItem)
                .where(DispatchItem.agency == agency, DispatchItem.id.in_(ids))
                .where(DispatchItem.acked_at.is_(None))
                .values(acked_at=utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)
