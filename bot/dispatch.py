"""The dispatch queue: each ticket change, per agency, until the agency acknowledges it.

Every notice is first written to a table in the same transaction that changes the ticket,
so a ticket is never stored without its notice. `TableDispatchQueue` serves agencies from
that table (embedded default); `RedisDispatchQueue` (bot/dispatch_redis.py) relays the
table to Redis Streams with a consumer group per agency (production).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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
    """A queued notice for one agency; `id` is what `ack` takes."""

    id: str
    agency: str
    payload: dict[str, Any]


def publish(
    session: Session, ticket: TicketView, change: str, agencies: list[str] | None = None
) -> None:
    """Record a notice of `change` for each of the ticket's agencies (or those given), in
    `session`: the same transaction as the change itself."""
    for agency in ticket.agencies if agencies is None else agencies:
        payload = {"change": change, "agency": agency, "ticket": ticket.to_dict()}
        session.add(DispatchItem(agency=agency, ticket_id=ticket.id, payload=payload))


class DispatchQueue(ABC):
    """What an agency's listener uses."""

    @abstractmethod
    def pending(self, agency: str, limit: int = 100) -> list[Delivery]:
        """Notices not yet acknowledged by the agency, oldest first."""

    @abstractmethod
    def ack(self, agency: str, ids: list[str]) -> int:
        """Acknowledge notices; returns how many were newly acknowledged."""


class TableDispatchQueue(DispatchQueue):
    """Agencies read the notice table directly."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def pending(self, agency: str, limit: int = 100) -> list[Delivery]:
        """Notices not yet acknowledged by the agency, oldest first."""
        query = (
            select(DispatchItem)
            .where(DispatchItem.agency == agency, DispatchItem.acked_at.is_(None))
            .order_by(DispatchItem.id)
            .limit(limit)
        )
        with self.db.session() as session:
            return [Delivery(str(i.id), i.agency, dict(i.payload)) for i in session.scalars(query)]

    def ack(self, agency: str, ids: list[str]) -> int:
        """Acknowledge notices; returns how many were newly acknowledged."""
        return mark_acked(self.db, agency, [int(i) for i in ids])


def mark_acked(db: Database, agency: str, item_ids: list[int]) -> int:
    """Set acked_at on notice rows of an agency."""
    if not item_ids:
        return 0
    with db.session() as session:
        result = session.execute(
            update(DispatchItem)
            .where(DispatchItem.agency == agency, DispatchItem.id.in_(item_ids))
            .where(DispatchItem.acked_at.is_(None))
            .values(acked_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)
