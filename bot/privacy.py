"""Personal data and untrusted text in logs: phone numbers and ids masked, no forged lines."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

# A run of seven digits or more (a phone number, a Telegram chat id), with an optional "+".
_LONG_NUMBER = re.compile(r"\+?\d[\d\- ]{5,}\d")
# C0/C1 controls and lone surrogates: a newline in a provider's field must not forge a log line.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_LOGGED_CHARS = 500
# Their INFO lines carry request URLs and headers (a Telegram URL holds the bot token, Twilio's
# logs name the account): only their warnings reach our logs.
QUIET_LOGGERS = ("httpx", "httpcore", "twilio.http_client", "telegram", "apscheduler", "alembic")


def mask(value: str | None) -> str:
    """Keep the last three characters only: enough to tell reporters apart in a log."""
    if not value:
        return "-"
    value = _UNPRINTABLE.sub("", value)
    return "*" * max(len(value) - 3, 3) + value[-3:]


def clean_for_log(value: str, limit: int = MAX_LOGGED_CHARS) -> str:
    """An untrusted value fit for one log line: controls escaped, truncated."""
    escaped = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                               else "\\ufffd", value)
    return escaped if len(escaped) <= limit else escaped[:limit] + f"...(+{len(escaped) - limit})"


# Ticket numbers ("112-000042") are no one's personal data: they stay readable.
_TICKET_NUMBER = re.compile(r"112-\d{6}")


def mask_numbers(text: str) -> str:
    """Long digit runs (phone numbers, chat ids) masked wherever they appear in a line."""
    def masked(match: re.Match[str]) -> str:
        if _TICKET_NUMBER.fullmatch(match.group()):
            return match.group()
        return "*" * 4 + re.sub(r"\D", "", match.group())[-3:]

    return _LONG_NUMBER.sub(masked, text)


class SafeFormatter(logging.Formatter):
    """Every log line: its message on one line, bounded, with no phone number or chat id."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = mask_numbers(clean_for_log(record.message, 4 * MAX_LOGGED_CHARS))
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """Every log line one JSON object (LOG_FORMAT=json, for a log collector): time (UTC), level,
    logger, message, and the traceback when there is one; numbers masked as in text lines."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_numbers(clean_for_log(record.getMessage(), 4 * MAX_LOGGED_CHARS)),
        }
        if record.exc_info:
            line["exception"] = mask_numbers(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int = logging.INFO, json_lines: bool = False) -> None:
    """The process's logging: one handler, the safe formatter (or JSON lines)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else
                         SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(logging.WARNING)
