"""Operator accounts: `sigap operator create`, argon2 hashes, sessions that expire."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from bot.console.accounts import check_password, open_session, staff_for
from bot.storage.database import Database
from bot.storage.models import Operator, OperatorSession, utcnow


def _sigap(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": ""}
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120, check=False)


def test_the_cli_creates_an_account_with_an_argon2_hash(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sigap.db'}"
    made = _sigap(url, "operator", "create", "rina", "--role", "supervisor", "--region", "33.24", "33.74",
                  stdin="sandi-panjang-sekali\n")
    assert made.returncode == 0, made.stderr
    db = Database(url)
    with db.session() as session:
        row = session.scalars(select(Operator).where(Operator.name == "rina")).one()
        assert row.password_hash.startswith("$argon2id$") and "sandi" not in row.password_hash
        assert (row.role, row.regions) == ("supervisor", ["33.24", "33.74"])
    assert check_password(db, "rina", "sandi-panjang-sekali") is not None
    assert check_password(db, "rina", "sandi-panjang-sekalI") is None
    assert check_password(db, "nobody", "sandi-panjang-sekali") is None
    again = _sigap(url, "operator", "create", "rina", "--region", "33.24", stdin="sandi-panjang-sekali\n")
    assert again.returncode == 2 and "exists" in again.stderr
    db.dispose()


def test_the_cli_refuses_a_short_password_and_an_unknown_region(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sigap.db'}"
    short = _sigap(url, "operator", "create", "andi", "--region", "33.24", stdin="pendek\n")
    assert short.returncode == 2 and "10 characters" in short.stderr
    nowhere = _sigap(url, "operator", "create", "andi", "--region", "99.99", stdin="sandi-panjang-sekali\n")
    assert nowhere.returncode == 2 and "99.99" in nowhere.stderr
    db = Database(url)
    with db.session() as session:
        assert session.scalars(select(Operator)).all() == []
    db.dispose()


def test_a_session_ends_when_it_expires(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sigap.db'}"
    assert _sigap(url, "operator", "create", "dewi", "--region", "33.24",
                  stdin="sandi-panjang-sekali\n").returncode == 0
    db = Database(url)
    operator_id = check_password(db, "dewi", "sandi-panjang-sekali")
    assert operator_id is not None
    token = open_session(db, operator_id, hours=1)
    staff = staff_for(db, token)
    assert staff is not None and staff.name == "dewi" and staff.regions == frozenset({"33.24"})
    assert staff_for(db, token + "x") is None and staff_for(db, None) is None
    with db.session() as session:
        session.execute(update(OperatorSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert staff_for(db, token) is None
    db.dispose()
