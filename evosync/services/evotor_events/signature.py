"""Whose event it is, and whether its X-Hub-Signature signs it (HMAC-SHA1, compared in constant time).

The secret is the app-wide ``EVOTOR_WEBHOOK_SECRET`` (the partner secret Evotor holds for our application), or,
for a merchant whose ``EvotorConnection.webhook_signing_secret`` is set, that merchant's own secret (it
authenticates events of that merchant only). Either one verifies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ...extensions import db
from ...models import CachedStore, EvotorConnection
from .form import store_id_of, text_of

SIGNATURE_HEADER = "X-Hub-Signature"
# verify_signature problems
SIGNATURE_MISSING = "missing"
SIGNATURE_ALGORITHM = "unsupported_algorithm"
SIGNATURE_MISMATCH = "mismatch"
SIGNATURE_NOT_CONFIGURED = "not_configured"


def sign(body: bytes, secret: str) -> str:
    """The header value Evotor sends for ``body``: ``sha1=<hex>``."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signature_header_problem(header: str | None) -> str | None:
    """What is wrong with the header's form (missing, not sha1), before any secret is looked up; else None."""
    if not header or not header.strip():
        return SIGNATURE_MISSING
    algorithm, sep, _given = header.strip().partition("=")
    if not sep or algorithm.strip().lower() != "sha1":
        return SIGNATURE_ALGORITHM
    return None


def verify_signature(body: bytes, header: str | None, event: Any) -> str | None:
    """None when ``header`` signs ``body`` with an accepted secret; else the problem (a SIGNATURE_* value).

    The app-wide secret is tried first: Evotor signs with it, and then no query is needed. Otherwise the own
    signing secrets of the merchants ``event`` (the parsed body) belongs to are tried, every one of them, so
    timing does not tell which one matched.
    """
    problem = signature_header_problem(header)
    if problem is not None:
        return problem
    given = header.strip().partition("=")[2].strip().lower().encode("utf-8", "replace")
    app_secret = current_app.config.get("EVOTOR_WEBHOOK_SECRET") or ""
    if app_secret and _signed_with(body, app_secret, given):
        return None
    secrets = [m.signing_secret for m in merchants_of(event) if m.signing_secret]
    if not secrets:
        return SIGNATURE_MISMATCH if app_secret else SIGNATURE_NOT_CONFIGURED
    matched = False
    for secret in secrets:
        matched |= _signed_with(body, secret, given)
    return None if matched else SIGNATURE_MISMATCH


def _signed_with(body: bytes, secret: str, given: bytes) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest().encode()
    return hmac.compare_digest(expected, given)


@dataclass(frozen=True)
class Merchant:
    """What an event needs of a merchant's Evotor connection (not the whole row: no tokens to decrypt)."""

    user_id: int
    evotor_user_id: str | None
    signing_secret: str | None


_MERCHANT_COLUMNS = (
    EvotorConnection.user_id,
    EvotorConnection.evotor_user_id,
    EvotorConnection.webhook_signing_secret,
)


def merchants_of(body: Any) -> list[Merchant]:
    """The merchants a parsed event belongs to ([] when it names none we know, or cannot be read)."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        return []
    return merchants_for(body["payload"], str(body.get("type") or ""))


def merchants_for(payload: dict, event_type: str) -> list[Merchant]:
    """By Evotor user id, else (manual connections) by a mirrored store, in one query each."""
    evotor_user = text_of(payload.get("user_id")) or text_of(payload.get("userId"))
    if evotor_user:
        row = db.session.execute(sa.select(*_MERCHANT_COLUMNS).filter_by(evotor_user_id=evotor_user[:64])).first()
        if row is not None:
            return [Merchant(*row)]
    store_id = store_id_of(payload, event_type)
    if not store_id:
        return []
    rows = db.session.execute(
        sa.select(*_MERCHANT_COLUMNS)
        .join(CachedStore, CachedStore.user_id == EvotorConnection.user_id)
        .where(CachedStore.evotor_id == store_id[:64])
    )
    return [
        Merchant(*row) for row in rows if not evotor_user or not row.evotor_user_id or row.evotor_user_id == evotor_user
    ]
