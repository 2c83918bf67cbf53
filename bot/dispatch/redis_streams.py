"""The production dispatch queue: the notice table relayed to Redis Streams, one stream per
region and agency, a consumer group each; an entry a dead listener took is claimed by another.

Relaying is idempotent and in order: each entry's stream id is its notice row's id, so a relay
repeated after a crash cannot add an entry twice, and one relay at a time (a Redis lock) adds
them oldest first. Redis here keeps nothing on disk: when it restarts (its run id changes), every
notice not yet acknowledged is relayed again, so a restart loses none.
"""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

from redis import Redis
from redis.exceptions import ResponseError
from sqlalchemy import select, update

from bot.dispatch.queue import Delivery, DispatchQueue, mark_acked
from bot.storage.database import Database
from bot.storage.models import DispatchItem, utcnow

log = logging.getLogger(__name__)

STREAM_KEY = "sigap:dispatch:{region}:{agency}"
STREAMS_OF = "sigap:dispatch:streams:{agency}"  # a set: the streams of an agency, every region
RELAY_LOCK = "sigap:dispatch:relay-lock"
GROUP = "dispatchers"
# An entry a listener took and did not acknowledge for this long is given to another listener.
CLAIM_IDLE_MS = 60_000
RELAY_LOCK_MS = 30_000


def stream(region: str, agency: str) -> str:
    """The stream of an agency in a region."""
    return STREAM_KEY.format(region=region or "-", agency=agency)


class RedisDispatchQueue(DispatchQueue):
    """Relay the notice table to streams; listeners read with XREADGROUP and claim stale entries."""

    def __init__(self, db: Database, url: str, consumer: str | None = None,
                 claim_idle_ms: int = CLAIM_IDLE_MS) -> None:
        self.db = db
        self.redis = Redis.from_url(url, decode_responses=True)
        self.consumer = consumer or f"{socket.gethostname()}-{id(self):x}"
        self.claim_idle_ms = claim_idle_ms
        self._run_id: str | None = None

    def relay(self, limit: int = 500) -> int:
        """Copy notices not yet in Redis to their stream, oldest first; returns how many."""
        if not self.redis.set(RELAY_LOCK, self.consumer, nx=True, px=RELAY_LOCK_MS):
            return 0  # another process relays now
        try:
            self._after_restart()
            with self.db.session() as session:
                rows = session.scalars(select(DispatchItem).where(DispatchItem.relayed_at.is_(None))
                                       .order_by(DispatchItem.id).limit(limit)).all()
                for row in rows:
                    self._add(row)
                    row.relayed_at = utcnow()
                return len(rows)
        finally:
            if self.redis.get(RELAY_LOCK) == self.consumer:
                self.redis.delete(RELAY_LOCK)

    def _add(self, row: DispatchItem) -> None:
        key = stream(row.region, row.agency)
        try:
            self.redis.xadd(key, {"item": row.id, "payload": json.dumps(row.payload)},
                            id=f"{row.id}-1")
        except ResponseError as error:
            if "equal or smaller" not in str(error):
                raise  # the entry is there already: relayed before a crash, not again
        self.redis.sadd(STREAMS_OF.format(agency=row.agency), key)

    def _after_restart(self) -> None:
        """A Redis that restarted empty: notices not acknowledged are relayed again."""
        run_id = str(self.redis.info("server").get("run_id"))
        if self._run_id is not None and run_id != self._run_id:
            with self.db.session() as session:
                result = session.execute(update(DispatchItem).where(DispatchItem.acked_at.is_(None))
                                         .values(relayed_at=None))
                log.warning("Redis restarted: %s unacknowledged notices relayed again",
                            getattr(result, "rowcount", "?"))
        self._run_id = run_id

    def pending(self, agency: str, regions: list[str] | None = None,
                limit: int = 100) -> list[Delivery]:
        """Stale entries of dead listeners first, then this listener's own, then new ones."""
        self.relay()
        members: Any = self.redis.smembers(STREAMS_OF.format(agency=agency))
        keys = [stream(r, agency) for r in regions] if regions else sorted(str(k) for k in members)
        deliveries: list[Delivery] = []
        for key in keys:
            self._ensure_group(key)
            found = self._claimed(key, agency, limit)
            for start in ("0", ">"):  # what this listener holds unacknowledged, else new entries
                if found:
                    break
                answer: Any = self.redis.xreadgroup(GROUP, self.consumer, {key: start}, count=limit)
                found = [self._delivery(key, agency, entry_id, fields)
                         for _name, entries in answer or [] for entry_id, fields in entries if fields]
            deliveries += found
        return sorted(deliveries, key=lambda d: int(d.id.split("-")[0]))[:limit]

    def _claimed(self, key: str, agency: str, limit: int) -> list[Delivery]:
        answer: Any = self.redis.xautoclaim(key, GROUP, self.consumer, self.claim_idle_ms, "0-0",
                                            count=limit)
        return [self._delivery(key, agency, entry_id, fields) for entry_id, fields in answer[1] if fields]

    @staticmethod
    def _delivery(key: str, agency: str, entry_id: str, fields: dict[str, str]) -> Delivery:
        region = key.split(":")[2]
        return Delivery(f"{entry_id}@{key}", agency, region, json.loads(fields["payload"]))

    def ack(self, delivery: Delivery) -> bool:
        """XACK the entry and mark its notice row acknowledged."""
        entry_id, _, key = delivery.id.partition("@")
        acked = int(self.redis.xack(key, GROUP, entry_id))
        mark_acked(self.db, delivery.agency, [int(entry_id.split("-")[0])])
        return acked == 1

    def _ensure_group(self, key: str) -> None:
        try:
            self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def close(self) -> None:
        """Close the connection pool."""
        self.redis.close()
