"""A local stand-in for the Telegram Bot API, and updates shaped the way Telegram sends them.

API side: `POST /bot<TOKEN>/<method>` for getMe, sendMessage, setWebhook, deleteWebhook and
getUpdates, with form-encoded or JSON parameters as python-telegram-bot sends them, answered
`{"ok": true, "result": ...}` (or `{"ok": false, "error_code": ..., "description": ...}` with the
same HTTP status, as Telegram does). It records every call and can fail the next N sendMessage
calls with 502 (or 429 with retry_after). getUpdates long-polls over the updates queued with `queue_update`.
Webhook side: `post_update` POSTs an update to Sigap with the secret-token header.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import httpx

TOKEN = "123456789:AAE-fake-token_for-tests-0123456789ab"
SECRET = "sigap-webhook-secret_0123456789"
BOT_USER = {
    "id": 123456789, "is_bot": True, "first_name": "Sigap 112", "username": "sigap112_test_bot",
    "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False,
}
# Parameters python-telegram-bot sends as JSON inside a form field.
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "entities", "link_preview_options",
                         "reply_parameters"})


@dataclass(frozen=True)
class Call:
    """One Bot API request the fake answered, and the HTTP status of its answer."""

    method: str
    params: dict[str, Any]
    status: int


class FakeTelegram:
    """The Bot API on a loopback port."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fail_sends = 0
        self.fail_status = 502
        self._updates: list[dict[str, Any]] = []
        self._message_ids = itertools.count(1000)
        self._changed = threading.Condition()
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        # python-telegram-bot's base_url format: the token is appended.
        self.api_url = self.url + "/bot"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next_sends(self, times: int, status: int = 502) -> None:
        """Answer the next `times` sendMessage calls with 502 Bad Gateway (or 429 flood control)."""
        with self._changed:
            self.fail_sends, self.fail_status = times, status

    def queue_update(self, update: dict[str, Any]) -> None:
        """Make an update available to getUpdates."""
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    def called(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of one method, in order (failed calls included)."""
        with self._changed:
            return [call.params for call in self.calls if call.method == method]

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """sendMessage parameters of the messages delivered to one chat, in order."""
        with self._changed:
            return [call.params for call in self.calls if call.method == "sendMessage"
                    and call.status == 200 and str(call.params["chat_id"]) == str(chat_id)]

    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one call, recorded."""
        if token != TOKEN:
            return 401, _error(401, "Unauthorized")
        if method == "getUpdates":
            updates = self._get_updates(params)
            status, body = 200, {"ok": True, "result": updates}
        with self._changed:
            if method != "getUpdates":
                status, body = self._result(method, params)
            self.calls.append(Call(method, params, status))
            return status, body

    def _result(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getMe":
            return 200, {"ok": True, "result": BOT_USER}
        if method in ("setWebhook", "deleteWebhook"):
            done = "Webhook was set" if method == "setWebhook" else "Webhook was deleted"
            return 200, {"ok": True, "result": True, "description": done}
        if method != "sendMessage":
            return 404, _error(404, "Not Found")
        if self.fail_sends:
            self.fail_sends -= 1
            if self.fail_status == 429:
                flood = _error(429, "Too Many Requests: retry after 3")
                return 429, {**flood, "parameters": {"retry_after": 3}}
            return self.fail_status, _error(self.fail_status, "Bad Gateway")
        if not params.get("chat_id") or not params.get("text"):
            return 400, _error(400, "Bad Request: message text is empty")
        if len(params["text"]) > 4096:  # Telegram's limit, in characters
            return 400, _error(400, "Bad Request: message is too long")
        return 200, {"ok": True, "result": self._message(params)}

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {
            "message_id": next(self._message_ids), "from": BOT_USER, "date": int(time.time()),
            "chat": {"id": chat_id, "first_name": "Pelapor", "type": "private"},
            "text": params["text"],
        }

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Telegram's long polling: updates from `offset` on; waiting up to `timeout` for one."""
        offset = int(params.get("offset", 0) or 0)
        deadline = time.monotonic() + float(params.get("timeout", 0) or 0)
        with self._changed:
            # An offset confirms every update before it: Telegram forgets them.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return list(self._updates)


def _error(code: int, description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": code, "description": description}


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    params: dict[str, Any] = dict(parse_qsl(body.decode(), keep_blank_values=True))
    for name in JSON_FIELDS & params.keys():
        params[name] = json.loads(params[name])
    return params


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a cancelled long poll) is expected; anything else is printed.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            _, bot, method = self.path.split("?")[0].split("/", 2)
            if not bot.startswith("bot"):
                self._reply(404, _error(404, "Not Found"))
                return
            params = _params(self.headers.get("Content-Type", ""), body)
            self._reply(*fake.answer(bot.removeprefix("bot"), method, params))

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:  # keep test output quiet
            pass

    return Handler


# -- updates as Telegram sends them ----------------------------------------------------------
_update_ids = itertools.count(500_000_000)


def _chat(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "first_name": "Sari", "username": "sari_kendal", "type": "private"}


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Sari", "username": "sari_kendal",
            "language_code": "id"}


def update(chat_id: int, update_id: int | None = None, edited: bool = False,
           **content: Any) -> dict[str, Any]:
    """An update with a private-chat message (or an edit of one) carrying `content`."""
    message = {"message_id": next(_update_ids) % 100_000, "from": _user(chat_id),
               "chat": _chat(chat_id), "date": int(time.time()), **content}
    if edited:
        message["edit_date"] = int(time.time())
    return {"update_id": update_id if update_id is not None else next(_update_ids),
            "edited_message" if edited else "message": message}


def text(chat_id: int, body: str, update_id: int | None = None) -> dict[str, Any]:
    """A text message; a leading /command gets its bot_command entity, as Telegram adds it."""
    content: dict[str, Any] = {"text": body}
    if body.startswith("/"):
        content["entities"] = [{"type": "bot_command", "offset": 0, "length": len(body.split()[0])}]
    return update(chat_id, update_id, **content)


def location(chat_id: int, latitude: float, longitude: float, live: bool = False,
             edited: bool = False) -> dict[str, Any]:
    """A location pin; `live` adds a live period (its later positions arrive as edits)."""
    point: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if live:
        point |= {"live_period": 900, "horizontal_accuracy": 12.5}
    return update(chat_id, edited=edited, location=point)


def photo(chat_id: int, file_id: str, caption: str | None = None) -> dict[str, Any]:
    """A photo in the three sizes Telegram offers, smallest first."""
    sizes = [{"file_id": f"{file_id}-{w}", "file_unique_id": f"u{w}", "width": w, "height": w * 3 // 4,
              "file_size": w * 60} for w in (90, 320)]
    sizes.append({"file_id": file_id, "file_unique_id": "u1280", "width": 1280, "height": 960,
                  "file_size": 98_304})
    return update(chat_id, photo=sizes, **({"caption": caption} if caption else {}))


def sticker(chat_id: int) -> dict[str, Any]:
    """A sticker with nothing else."""
    return update(chat_id, sticker={
        "file_id": "CAACAgIAAxkBAAEsticker", "file_unique_id": "AgADsticker", "type": "regular",
        "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": "😱"})


def post_update(app_url: str, body: dict[str, Any] | bytes, secret: str | None = SECRET) -> httpx.Response:
    """POST an update to Sigap's webhook as Telegram does (with `secret`; None: no header)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(app_url + "/webhooks/telegram", content=content, headers=headers, timeout=30)
