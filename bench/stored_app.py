"""A floor bench/load.py can compare Sigap with: the bare routes (bench/bare_app.py) that also store
each message in PostgreSQL before they answer, one INSERT and one commit a request, through a
SQLAlchemy Core connection pool in a worker thread (as Sigap's ingest runs). No NLU, no dialogue, no
ticket: what a message costs on this stack before Sigap does anything with it."""

from __future__ import annotations

import asyncio
import functools
import os
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    Table,
    Text,
    create_engine,
    func,
    insert,
)

from bench.bare_app import EMPTY_TWIML, ready

metadata = MetaData()
stored = Table("stored_message", metadata, Column("id", BigInteger, primary_key=True),
               Column("sender", Text), Column("body", Text),
               Column("received_at", DateTime(timezone=True), server_default=func.now()))
app = FastAPI()
app.get("/readyz")(ready)


def create_table(database_url: str) -> None:
    """The table, made once before the server's processes start (they would race to make it)."""
    metadata.create_all(create_engine(database_url))


@functools.cache
def _engine() -> Engine:
    return create_engine(os.environ["DATABASE_URL"], pool_size=8)


def _store(sender: str, body: str) -> None:
    with _engine().begin() as connection:
        connection.execute(insert(stored), {"sender": sender, "body": body})


@app.post("/webhooks/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """Read the form, store the message, answer empty TwiML."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True))
    await asyncio.to_thread(_store, form.get("From", ""), form.get("Body", ""))
    return Response(EMPTY_TWIML, media_type="text/xml")


@app.post("/webhooks/rest/webhook")
async def rest(request: Request) -> JSONResponse:
    """Read the JSON, store the message, answer no message."""
    message = await request.json()
    await asyncio.to_thread(_store, str(message.get("sender", "")), str(message.get("message", "")))
    return JSONResponse([])
