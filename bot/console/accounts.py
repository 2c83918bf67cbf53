"""Operator accounts and console logins: argon2 password hashes, sessions kept as SHA-256."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select

from bot.storage.database import Database
from bot.storage.models import Operator, OperatorSession, aware, utcnow
from bot.web.auth import token_hash

ROLES = ("operator", "supervisor", "admin")
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Staff:
    """A logged-in operator: who, what role, which regions (admins: every region)."""

    id: int
    name: str
    role: str
    regions: frozenset[str]
    csrf_token: str = ""

    @property
    def supervises(self) -> bool:
        """Supervisors and admins see escalations, everyone's conversations, and reassign."""
        return self.role in ("supervisor", "admin")

    def covers(self, region: str) -> bool:
        """Whether a region's conversations are theirs."""
        return self.role == "admin" or region in self.regions

    @property
    def actor(self) -> str:
        """How tickets and the audit log name them."""
        return f"operator:{self.name}"


class AccountError(ValueError):
    """A bad account request (unknown role, name taken, weak password)."""


def create_operator(db: Database, name: str, role: str, regions: list[str], password: str) -> None:
    """A new account; the password is kept only as an argon2 hash."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
        raise AccountError("a name is 1 to 64 printable characters")
    if len(password) < 10:
        raise AccountError("a password has at least 10 characters")
    with db.session() as session:
        if session.scalars(select(Operator).where(Operator.name == name)).first():
            raise AccountError(f"an operator called {name!r} exists")
        session.add(Operator(name=name, role=role, regions=sorted(set(regions)),
                             password_hash=_hasher.hash(password)))


def check_password(db: Database, name: str, password: str) -> int | None:
    """The operator's id when the password is theirs, else None (same cost either way)."""
    with db.session() as session:
        row = session.scalars(select(Operator).where(Operator.name == name,
                                                     Operator.disabled_at.is_(None))).first()
        stored = row.password_hash if row else _DUMMY
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if _hasher.check_needs_rehash(stored):
            row.password_hash = _hasher.hash(password)
        return row.id


def open_session(db: Database, operator_id: int, hours: float) -> str:
    """A new login; returns the cookie value (shown once, kept as a hash)."""
    token = secrets.token_urlsafe(32)
    with db.session() as session:
        session.execute(delete(OperatorSession).where(OperatorSession.expires_at < utcnow()))
        session.add(OperatorSession(token_hash=token_hash(token), operator_id=operator_id,
                                    csrf_token=secrets.token_urlsafe(24),
                                    expires_at=utcnow() + timedelta(hours=hours)))
    return token


def staff_for(db: Database, token: str | None) -> Staff | None:
    """Who holds a session cookie (None: no, expired or revoked)."""
    if not token or len(token) > 200:
        return None
    with db.session() as session:
        found = session.execute(
            select(OperatorSession, Operator).join(Operator, Operator.id == OperatorSession.operator_id)
            .where(OperatorSession.token_hash == token_hash(token), Operator.disabled_at.is_(None))
        ).first()
        if found is None:
            return None
        login, operator = found
        if aware(login.expires_at) < utcnow():
            return None
        return Staff(operator.id, operator.name, operator.role,
                     frozenset(str(r) for r in operator.regions), login.csrf_token)


def close_session(db: Database, token: str | None) -> None:
    """Log out."""
    if token:
        with db.session() as session:
            session.execute(delete(OperatorSession).where(OperatorSession.token_hash == token_hash(token)))


def staff_named(db: Database, name: str) -> Staff | None:
    """An account by name (reassigning)."""
    with db.session() as session:
        row = session.scalars(select(Operator).where(Operator.name == name,
                                                     Operator.disabled_at.is_(None))).first()
        return Staff(row.id, row.name, row.role, frozenset(row.regions)) if row else None
