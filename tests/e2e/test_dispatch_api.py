"""The dispatch API as agencies use it: per-agency tokens, one incident from many reporters,
transcripts, and status updates told to every reporter."""

from __future__ import annotations

import httpx
import jsonschema
import pytest
from sqlalchemy import select

from bot.storage.models import ApiToken, DispatchItem
from bot.tickets.document import schema
from bot.web.auth import create_token
from tests.conftest import API_TOKEN, RunningApp
from tests.e2e.conversation import Reporter, tickets

FIRE = "tolong ada kebakaran di pasar weleri kendal"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(running_app: RunningApp) -> dict[str, str]:
    db = running_app.services.db
    return {"fire": create_token(db, "damkar-kendal", "fire_rescue", ["33.24"]),
            "fire_semarang": create_token(db, "damkar-semarang", "fire_rescue", ["33.74"]),
            "pln": create_token(db, "pln-kendal", "pln", ["33.24"])}


def test_a_token_sees_only_its_agencys_tickets_in_its_regions(
    client: httpx.Client, running_app: RunningApp, tokens: dict[str, str]
) -> None:
    Reporter(client, "r1").say(FIRE)
    [ticket] = tickets(running_app.services)
    mine = client.get(f"/api/tickets/{ticket.id}", headers=_bearer(tokens["fire"]))
    assert mine.status_code == 200, mine.text
    document = mine.json()
    jsonschema.validate(document, schema())
    assert document["region"]["code"] == "33.24"
    transcript = client.get(document["reporters"][0]["transcript"], headers=_bearer(tokens["fire"]))
    assert transcript.status_code == 200
    assert transcript.json()["messages"][0]["text"] == FIRE
    for other in ("fire_semarang", "pln"):  # another region, another agency: it does not exist
        assert client.get(f"/api/tickets/{ticket.id}", headers=_bearer(tokens[other])).status_code == 404
        assert client.get(document["reporters"][0]["transcript"],
                          headers=_bearer(tokens[other])).status_code == 404
        assert client.post(f"/api/tickets/{ticket.id}/events", json={"status": "en_route"},
                           headers=_bearer(tokens[other])).status_code == 404
        assert client.get("/api/tickets", headers=_bearer(tokens[other])).json() == []
    assert [d["ticket_number"] for d in client.get("/api/tickets", headers=_bearer(tokens["fire"])).json()] \
        == [ticket.number]
    with running_app.services.db.session() as session:
        stored = [row.token_hash for row in session.scalars(select(ApiToken))]
    assert tokens["fire"] not in stored and len(stored[0]) == 64  # only the hash is kept


def test_three_reporters_of_one_fire_are_one_incident_and_all_are_told_help_is_on_its_way(
    client: httpx.Client, running_app: RunningApp
) -> None:
    reporters = [Reporter(client, f"warga{i}") for i in range(3)]
    answers = [reporter.say(FIRE) for reporter in reporters]
    assert "sudah dilaporkan" in " ".join(answers[1]) and "sudah dilaporkan" in " ".join(answers[2])
    first, second, third = tickets(running_app.services)
    assert first.incident_id == second.incident_id == third.incident_id
    detail = client.get(f"/api/tickets/{third.id}", headers=_bearer(API_TOKEN)).json()
    assert len(detail["reporters"]) == 3 and detail["ticket_number"] == first.number
    response = client.post(f"/api/tickets/{second.id}/events", json={"status": "en_route"},
                           headers=_bearer(API_TOKEN))
    assert response.status_code == 201 and response.json()["told_reporters"] == 3
    for reporter in reporters:
        assert any("perjalanan" in text for text in reporter.say("ok"))
    with running_app.services.db.session() as session:
        payloads = list(session.scalars(select(DispatchItem.payload)))
    for payload in payloads:
        jsonschema.validate(payload, schema())
