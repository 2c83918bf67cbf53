"""The deadline clock: an incident without movement (acknowledged or en route) by its deadline is
escalated: an event, a notice to its agencies and to the centre's supervisors, a metric."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from bot.coordination import jobs
from bot.dispatch.queue import SUPERVISORS, publish
from bot.metrics import DEADLINE_MISSED
from bot.storage.database import Database
from bot.storage.models import Incident, TicketEvent, aware, utcnow
from bot.tickets.desk import Rules
from bot.tickets.document import document

log = logging.getLogger(__name__)
# How often the clock looks (the deadline is minutes; a few seconds late is no matter).
CHECK_SECONDS = 15.0


def escalate_due(db: Database, rules: Rules, now: datetime | None = None) -> list[int]:
    """Escalate every incident past its deadline with no movement; the ids escalated. Rows are
    locked as they are taken, so two processes never escalate one incident twice."""
    moment = now or utcnow()
    escalated: list[int] = []
    with db.session() as session:
        due = session.scalars(
            select(Incident).where(Incident.status == "new", Incident.first_movement_at.is_(None),
                                   Incident.escalated_at.is_(None), Incident.merged_into_id.is_(None),
                                   Incident.deadline_at <= moment)
            .order_by(Incident.deadline_at).limit(200).with_for_update(skip_locked=True)
        ).all()
        for incident in due:
            if not incident.tickets:
                continue
            incident.escalated_at = moment
            late = moment - aware(incident.deadline_at)
            note = f"no movement {int(late.total_seconds() // 60)} min past the deadline"
            session.add(TicketEvent(ticket_id=incident.tickets[0].id, incident_id=incident.id,
                                    kind="escalated", actor="clock", note=note))
            session.flush()
            doc = document(session, incident, "escalated", rules.priorities, rules.regions)
            publish(session, doc, [*incident.agencies, SUPERVISORS], ticket_id=incident.tickets[0].id,
                    incident_id=incident.id, region=incident.region)
            DEADLINE_MISSED.labels(incident.region, incident.priority).inc()
            escalated.append(incident.id)
    if escalated:
        log.warning("escalated %d incidents past their deadline: %s", len(escalated), escalated)
    return escalated


async def run(db: Database, rules: Rules, every: float = CHECK_SECONDS) -> None:
    """Check the deadlines until cancelled."""
    await jobs.every(every, "deadline check", lambda: escalate_due(db, rules))

