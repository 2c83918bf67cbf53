"""A reporter talking to the running app through the REST channel."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from bot.storage.models import DispatchItem, Message, Ticket


class Reporter:
    """Sends messages as one sender and remembers the bot's replies."""

    def __init__(self, client: httpx.Client, sender: str) -> None:
        self.client = client
        self.sender = sender

    def say(self, text: str, **metadata: Any) -> list[str]:
        """Send a message; return the texts the bot answered."""
        body: dict[str, Any] = {"sender": self.sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        response = self.client.post("/webhooks/rest/webhook", json=body)
        assert response.status_code == 200, response.text
        replies = response.json()
        assert all(r["recipient_id"] == self.sender for r in replies)
        return [r["text"] for r in replies]


def tickets(services: Any) -> list[Ticket]:
    """Every ticket in the app's database."""
    with services.db.session() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def count(services: Any, model: type) -> int:
    """Rows of a table."""
    with services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def inbound_count(services: Any) -> int:
    """Inbound messages stored."""
    with services.db.session() as session:
        query = select(func.count()).select_from(Message).where(Message.direction == "in")
        return int(session.scalar(query) or 0)


def dispatched_agencies(services: Any, ticket_id: int) -> set[str]:
    """Agencies with a dispatch notice of a ticket."""
    with services.db.session() as session:
        query = select(DispatchItem.agency).where(DispatchItem.ticket_id == ticket_id)
        return set(session.scalars(query))
