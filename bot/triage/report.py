"""The figures a Kominfo office publishes, from the database, per 112 centre: contacts (what a
voice centre calls calls), real incidents, the contacts that reported one, pranks, silent chats,
information (non-emergencies and questions about 112, by where they were sent) and the rest."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.storage.database import Database
from bot.storage.models import Contact, Conversation, Incident, Message
from bot.tickets.regions import Regions

_SPAN = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class ReportError(ValueError):
    """A --since that is neither a span ("7d", "24h", "90m") nor a date."""


def since(text: str, now: datetime) -> datetime:
    """The start of the report: a span back from now, or an ISO date or time (UTC)."""
    span = _SPAN.match(text.strip())
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise ReportError(f"--since {text!r}: give a span (7d, 24h, 90m) or a date (2026-11-25)") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)


@dataclass
class Figures:
    """One centre's figures for the span."""

    region: str
    name: str
    contacts: int = 0
    incidents: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    targets: Counter[str] = field(default_factory=Counter)
    repeats: int = 0


def figures(db: Database, regions: Regions, start: datetime, end: datetime) -> list[Figures]:
    """Every centre's figures for contacts begun and incidents opened in [start, end)."""
    table = {code: Figures(code, centre.name) for code, centre in regions.centres.items()}
    with db.session() as session:
        contacts = session.execute(
            select(Contact.region, Contact.outcome, Contact.target, func.count())
            .where(Contact.started_at >= start, Contact.started_at < end)
            .group_by(Contact.region, Contact.outcome, Contact.target))
        for region, outcome, target, count in contacts:
            row = table[regions.code(region)]
            row.contacts += count
            row.outcomes[outcome] += count
            if outcome == "information":
                row.targets[target or "default"] += count
        incidents = session.execute(
            select(Incident.region, func.count())
            .where(Incident.created_at >= start, Incident.created_at < end,
                   Incident.merged_into_id.is_(None), Incident.status != "cancelled")
            .group_by(Incident.region))
        for region, count in incidents:
            table[regions.code(region)].incidents += count
        repeats = session.execute(
            select(Conversation.region, func.sum(Message.repeats))
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.direction == "in", Message.repeats > 0,
                   Message.created_at >= start, Message.created_at < end)
            .group_by(Conversation.region))
        for region, count in repeats:
            table[regions.code(region)].repeats += int(count or 0)
    return list(table.values())


COLUMNS = (("contacts", "contacts"), ("incidents", "real incidents"), ("incident", "reports"),
           ("prank", "pranks"), ("silent", "silent"), ("information", "information"), ("other", "other"),
           ("repeats", "repeats collapsed"))


def _value(row: Figures, key: str) -> int:
    if key in ("contacts", "incidents", "repeats"):
        return int(getattr(row, key))
    return row.outcomes[key]


def render(rows: list[Figures], start: datetime, end: datetime) -> str:
    """The table as text: one line per centre, a total, then where information was sent."""
    total = Figures("", "All centres")
    for row in rows:
        total.contacts += row.contacts
        total.incidents += row.incidents
        total.repeats += row.repeats
        total.outcomes.update(row.outcomes)
        total.targets.update(row.targets)
    width = max(len(f"{r.region} {r.name}") for r in [*rows, total])
    lines = [f"Sigap 112 figures {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC",
             "centre".ljust(width) + "".join(f"  {label:>{len(label)}}" for _key, label in COLUMNS)]
    for row in [*rows, total]:
        cells = "".join(f"  {_value(row, key):>{len(label)}}" for key, label in COLUMNS)
        lines.append(f"{row.region} {row.name}".strip().ljust(width) + cells)
    if total.targets:
        ranked = sorted(total.targets.items(), key=lambda t: (-t[1], t[0]))
        lines.append("information sent to: " + ", ".join(f"{target} {count}" for target, count in ranked))
    return "\n".join(lines)
