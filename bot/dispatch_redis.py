"""The production dispatch queue: notices relayed to Redis Streams, a consumer group per agency."""

from __future__ import annotations

import json
import logging
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError
from sqlalchemy import select

from bot.database import Database
from bot.dispatch import Delivery, DispatchQueue, mark_acked
from bot.models import DispatchItem, utcnow

log = logging.getLogger(__name__)

STREAM_KEY = "sigap:dispatch:{agency}"
GROUP = "dispatchers"


class RedisDispatchQueue(DispatchQueue):
    """Relay the notice table to one stream per agency; listeners read with XREADGROUP."""

    def __init__(self, db: Database, url: str, consumer: str = "listener") -> None:
        self.db = db
        self.redis = Redis.from_url(url, decode_responses=True)
        self.consumer = consumer

    def relay(self, limit: int = 500) -> int:
        """Copy notices not yet in Redis to their agency's stream; returns how many."""
        with self.db.session() as session:
            rows = session.scalars(
                select(DispatchItem).where(DispatchItem.relayed_at.is_(None))
                .order_by(DispatchItem.id).limit(limit).with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                # The row id travels along: a relay repeated after a crash is recognisable.
                self.redis.xadd(STREAM_KEY.format(agency=row.agency),
                                {"item": row.id, "payload": json.dumps(row.payload)})
                row.relayed_at = utcnow()
            return len(rows)

    def pending(self, agency: str, limit: int = 100) -> list[Delivery]:
        """This consumer's unacknowledged entries first, then new ones."""
        self.relay()
        stream = STREAM_KEY.format(agency=agency)
        self._ensure_group(stream)
        deliveries: list[Delivery] = []
        for start in ("0", ">"):
            answer: Any = self.redis.xreadgroup(GROUP, self.consumer, {stream: start}, count=limit)
            for _name, entries in answer or []:
                for entry_id, fields in entries:
                    if fields:  # an entry acknowledged meanwhile comes back empty
                        deliveries.append(Delivery(entry_id, agency, json.loads(fields["payload"])))
            if deliveries:
                break
        return deliveries

    def ack(self, agency: str, ids: list[str]) -> int:
        """XACK the entries and mark their notice rows acknowledged."""
        if not ids:
            return 0
        stream = STREAM_KEY.format(agency=agency)
        items = []
        entries: Any = self.redis.xrange(stream, min=min(ids), max=max(ids))
        for entry in entries:
            if entry[0] in ids:
                items.append(int(entry[1]["item"]))
        acked = int(self.redis.xack(stream, GROUP, *ids))
        mark_acked(self.db, agency, items)
        return acked

    def _ensure_group(self, stream: str) -> None:
        try:
            self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def close(self) -> None:
        """Close the connection pool."""
        self.redis.close()
