"""Logs hold no phone number and no forged line; masks hold no control characters."""

from __future__ import annotations

import logging

from bot.privacy import SafeFormatter, clean_for_log, mask, mask_numbers


def _line(message: str, *args: object) -> str:
    record = logging.LogRecord("sigap", logging.WARNING, __file__, 1, message, args, None)
    return SafeFormatter("%(levelname)s %(message)s").format(record)


def test_a_newline_in_an_untrusted_value_cannot_start_a_new_log_line() -> None:
    line = _line("Twilio error %s", "30008\n2026-12-02 INFO admin logged in")
    assert "\n" not in line and "\\x0a" in line


def test_a_huge_value_is_cut_to_a_readable_line() -> None:
    assert len(_line("error %s", "x" * 100_000)) < 2500


def test_phone_numbers_and_chat_ids_are_masked_in_every_line() -> None:
    line = _line("from %s and chat %s, ticket 112-000042", "+62 812-3456-7890", 5550001234)
    assert "3456" not in line and "555000" not in line and "112-000042" in line


def test_mask_keeps_three_characters_and_no_control_character() -> None:
    assert mask("+6281234567890") == "***********890"
    assert "\x00" not in mask("+62\x00\x00812")
    assert mask(None) == "-"


def test_clean_for_log_escapes_surrogates_and_controls() -> None:
    assert clean_for_log("a\ud800b\x00c") == "a\\ufffdb\\x00c"
    assert mask_numbers("call 08123456789 now") == "call ****789 now"


def test_json_lines_are_one_object_each_with_numbers_masked_also_in_tracebacks() -> None:
    import json

    from bot.privacy import JsonFormatter

    try:
        raise ValueError("send to +6281234567890 failed")
    except ValueError:
        import sys

        record = logging.LogRecord("sigap.outbox", logging.ERROR, __file__, 1, "reporter %s\nforged",
                                   ("+62 812 3456 7890",), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "sigap.outbox"
    assert entry["time"].endswith("+00:00")
    assert "3456" not in entry["message"] and "forged" in entry["message"]
    assert "ValueError" in entry["exception"] and "1234567" not in entry["exception"]


def test_an_access_line_keeps_its_status_and_duration_readable() -> None:
    line = _line("%s %s %d in %.0f ms", "POST", "/webhooks/rest/webhook", 200, 356.2)
    assert line.endswith("POST /webhooks/rest/webhook 200 in 356 ms")
