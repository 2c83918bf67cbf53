"""Dispatcher tokens: created with `sigap token create`, kept as SHA-256 only, one agency and its
regions each. SIGAP_API_TOKENS is a development shortcut that sees every agency and region."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select

from bot.settings import Settings
from bot.storage.database import Database
from bot.storage.models import ApiToken
from bot.tickets.dispatchers import Access

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    """What is stored of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create_token(db: Database, name: str, agency: str, regions: list[str]) -> str:
    """A new token for an agency in its regions; the token itself is shown once and never kept."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with db.session() as session:
        session.add(ApiToken(name=name, agency=agency, regions=sorted(set(regions)),
                             token_hash=token_hash(token)))
    return token


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header ('' for anything else). The scheme
    is case-insensitive (RFC 7235); the token is taken byte for byte, untrimmed."""
    scheme, _, token = (header or "").partition(" ")
    return token if scheme.lower() == "bearer" else ""


def authenticate(db: Database, settings: Settings, header: str | None) -> Access | None:
    """The dispatcher a header names, or None. Development tokens are compared with each in
    constant time; stored tokens are found by their hash."""
    token = bearer(header)
    if not token:
        return None
    given = token.encode("utf-8", "surrogateescape")
    found = None
    for name, configured in settings.named_api_tokens().items():
        if hmac.compare_digest(given, configured.encode()):
            found = Access(name, None, None)
    if found is not None:
        return found
    with db.session() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token),
                                                     ApiToken.revoked_at.is_(None))).first()
        if row is None:
            return None
        return Access(row.name, row.agency, frozenset(str(r) for r in row.regions))
