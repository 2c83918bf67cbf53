"""The dispatch queue: each incident change, per agency, until the agency acknowledges it.

Every notice is first written to a table in the same transaction that changes the ticket, so a
ticket is never stored without its notice. `TableDispatchQueue` serves agencies from that table
(embedded default); `RedisDispatchQueue` (bot/dispatch/redis_streams.py) relays the table to
Redis Streams, one stream per region and agency, a consumer group each (production).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.storage.database import Database
from bot.storage.models import DispatchItem, utcnow

# Not agencies: the centre's own operators (unknown types) and its supervisors (escalations).
DESK = "desk"
SUPERVISORS = "supervisors"


@dataclass(frozen=True)
class Delivery:
    """A queued notice for one agency; `id` is what `ack` takes."""

    id: str
    agency: str
    region: str
    payload: dict[str, Any]


def publish(session: Session, document: dict[str, Any], agencies: list[str], ticket_id: int,
            incident_id: int | None, region: str) -> None:
    """Record the notice (a ticket-v1 document) for each agency, in `session`: the same
    transaction as the change itself, so neither lands without the other. One statement for all,
    at once (written after the change it tells of, which is flushed first)."""
    if not agencies:
        return
    session.flush()
    now = utcnow()
    session.connection().execute(insert(DispatchItem), [
        {"agency": agency, "ticket_id": ticket_id, "incident_id": incident_id, "region": region,
         "payload": document, "created_at": now} for agency in agencies])


class DispatchQueue(ABC):
    """What an agency's listener uses."""

    @abstractmethod
    def pending(self, agency: str, regions: list[str] | None = None,
                limit: int = 100) -> list[Delivery]:
        """Notices for the agency (in those regions; None: all) not yet acknowledged, oldest first."""

    @abstractmethod
    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a notice; False when it was acknowledged already."""

    def close(self) -> None:  # noqa: B027 (most queues hold nothing to release)
        """Release connections."""


class TableDispatchQueue(DispatchQueue):
    """Agencies read the notice table directly."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def pending(self, agency: str, regions: list[str] | None = None,
                limit: int = 100) -> list[Delivery]:
        """Notices for the agency not yet acknowledged, oldest first."""
        query = (select(DispatchItem)
                 .where(DispatchItem.agency == agency, DispatchItem.acked_at.is_(None))
                 .order_by(DispatchItem.id).limit(limit))
        if regions:
            query = query.where(DispatchItem.region.in_(regions))
        with self.db.session() as session:
            return [Delivery(str(i.id), i.agency, i.region, dict(i.payload))
                    for i in session.scalars(query)]

    def ack(self, delivery: Delivery) -> bool:
        """Acknowledge a notice."""
        return mark_acked(self.db, delivery.agency, [int(delivery.id)]) == 1


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
