"""The reads that run all the time are served by indexes: every turn's (the ingest, the load, the
desk's), the matching of a new report, the sweep, the relay, the console board, the answer to a
provider's retry and the outbox's claim. A year of a centre's rows would make any read without one
a scan of a whole table on every message (see bench/history.py). With sequential scans priced out,
PostgreSQL still plans a whole-table read (a sequential scan, or an index read from end to end)
only where no index can serve: so no plan of these reads may hold one, however few rows the test
stores. Dropping any index of migration 0008 makes this test fail."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.console.accounts import Staff
from bot.console.board import Board
from bot.delivery.outbox import Outbox
from bot.dispatch.redis_streams import RedisDispatchQueue
from bot.inbox import Inbox
from bot.messages import OutboundMessage
from tests.conftest import RunningApp, rest_texts

# Tables of a handful of rows (settings, accounts), read whole by design.
SMALL = ("alembic_version", "operator", "api_token")


class _Silent:
    channel = "telegram"

    async def send(self, recipient: str, message: OutboundMessage) -> str | None:
        raise AssertionError("the claim alone runs here")


def _statements(app: RunningApp, work: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The reads and updates `work` sent to the database, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
            # One of an executemany's rows stands for all (one statement, one plan).
            seen.append((statement, parameters[0] if isinstance(parameters, list) else parameters))

    engine = app.services.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _scans(app: RunningApp, statements: list[tuple[str, Any]]) -> list[str]:
    """Each statement whose plan reads a whole table of more than a handful of rows, with the
    nodes that read it so."""
    found = []
    with app.services.db.engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                       "AND indexdef LIKE '% WHERE %'")
        partial = {str(row[0]) for row in cursor.fetchall()}
        cursor.execute("SELECT i.relname, a.attname FROM pg_index x "
                       "JOIN pg_class i ON i.oid = x.indexrelid "
                       "JOIN pg_namespace n ON n.oid = i.relnamespace "
                       "JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] "
                       "WHERE n.nspname = current_schema()")
        leading = {str(name): str(column) for name, column in cursor.fetchall()}
        cursor.execute("SET enable_seqscan = off")
        for statement, parameters in statements:
            cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            whole = [node for node in _nodes(cursor.fetchone()[0][0]["Plan"])
                     if node.get("Relation Name", "") not in SMALL and _reads_all(node, partial, leading)]
            if whole:
                found.append(f"{' '.join(statement.split())[:160]}: {whole}")
        connection.rollback()
    return found


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def _reads_all(node: dict[str, Any], partial: set[str], leading: dict[str, str]) -> bool:
    """A sequential scan; or an index read with no condition on its first column (from end to
    end), unless the index is partial (it holds only the rows asked for)."""
    kind = node["Node Type"]
    if kind == "Seq Scan":
        return True
    if kind not in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        return False
    name = node.get("Index Name", "")
    first = leading.get(name, "")
    return name not in partial and not re.search(rf"\b{first}\b", node.get("Index Cond", ""))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_reads_that_run_all_the_time_are_served_by_indexes(running_app: RunningApp) -> None:
    app = running_app
    services = app.services

    def report() -> None:  # two reporters of one fire: the second's report is matched to the first
        for sender in ("+6281311110001", "+6281311110002"):
            rest_texts(app, sender, "kebakaran rumah di jl pemuda no 3 kendal")
            rest_texts(app, sender, "ada 2 orang terjebak di dalam")
            rest_texts(app, sender, "ada 2 orang terjebak di dalam")  # the same text again

    def jobs() -> None:
        inbox = Inbox(services.db, services.regions)
        inbox.unprocessed(timedelta(seconds=0), 100)
        inbox.replies_to(1)  # a provider's retry
        queue = RedisDispatchQueue(services.db, services.settings.redis_url)
        try:
            queue.relay()
        finally:
            queue.close()
        Outbox(services.db, {"telegram": _Silent()})._due()  # the claim of an outbox pass
        board = Board(services.db, services.desk.rules, services.settings.console_silent_minutes)
        board.rows(Staff(1, "wati", "admin", frozenset()))

    statements = _statements(app, report) + _statements(app, jobs)
    assert len(statements) > 40  # the turns, the desk, the jobs and the board all ran
    assert _scans(app, statements) == []
