"""The ceiling bench/load.py compares Sigap with: the same routes on the same server stack
(uvicorn, FastAPI, the same number of processes) doing nothing but read the request and answer."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

app = FastAPI()
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@app.post("/webhooks/twilio/sms")
async def twilio_sms(request: Request) -> Response:
    """Read the form as Sigap does (the body, parsed), answer empty TwiML."""
    parse_qsl((await request.body()).decode("utf-8", errors="replace"), keep_blank_values=True)
    return Response(EMPTY_TWIML, media_type="text/xml")


@app.post("/webhooks/rest/webhook")
async def rest(request: Request) -> JSONResponse:
    """Read the JSON as Sigap does, answer no message."""
    await request.json()
    return JSONResponse([])


@app.get("/readyz")
async def ready() -> dict[str, str]:
    """Up."""
    return {"status": "ready"}
