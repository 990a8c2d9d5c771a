"""Keeping a VK ID connection's token fresh: refreshed ahead of expiry, or after VK refused it, one worker at a time.

    refresh_vk_token(conn)                    # new access token (rotated refresh token stored) or None
    token_refresher_for(conn)                 # plugs refresh_vk_token into VkClient (vk_client_for does it)
    ensure_fresh_token(conn)                  # refresh ahead of time when the token expires within 5 minutes

A refresh that VK ID refuses (revoked / invalid_grant) marks only that merchant's VK connection broken,
says so in plain words on the Connections page and by email, and forgets the dead refresh token.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import locks
from ..clients.errors import VkIdError
from ..clients.vkid import VkIdClient, VkIdTokens
from ..extensions import db
from ..models import ConnectionState, User, VkConnection, utcnow
from . import notifications

log = logging.getLogger(__name__)

REFRESH_LOCK = "vkid-refresh"  # locks kind, per VK connection id: evosync:lock:vkid-refresh:<id>
REFRESH_LOCK_TTL = 60  # longer than the refresh attempts below can take
REFRESH_LOCK_WAIT = 75  # a waiting worker gives up after this (then its call fails like a network error)
REFRESH_ATTEMPTS = 3  # VK ID down or slow: try again shortly, a rotation is not lost by a retry
EXPIRY_MARGIN = dt.timedelta(minutes=5)  # refresh ahead of a run when the token expires this soon
STILL_VALID_MARGIN = dt.timedelta(seconds=15)  # a token another worker just got is used if it lives this long
METHOD_VKID = "vkid"

# Fields a refresh changes; copied onto the caller's (other session's) object without making it dirty.
_TOKEN_FIELDS = (
    "method",
    "access_token",
    "refresh_token",
    "token_expires_at",
    "device_id",
    "vk_user_id",
    "state",
    "last_error",
    "last_error_at",
)


class RefreshUnavailable(Exception):
    """The token could not be refreshed right now (VK ID down, another worker stuck); nothing was marked broken."""


def vkid_client() -> VkIdClient:
    cfg = current_app.config
    return VkIdClient(
        cfg["VK_ID_URL"],
        cfg["VK_ID_CLIENT_ID"],
        client_secret=cfg.get("VK_ID_CLIENT_SECRET") or None,
        timeout=cfg.get("VK_TIMEOUT", 10),
    )


def store_tokens(conn: VkConnection, tokens: VkIdTokens) -> None:
    conn.method = METHOD_VKID
    conn.access_token = tokens.access_token
    conn.refresh_token = tokens.refresh_token
    conn.token_expires_at = dt.datetime.fromtimestamp(tokens.expires_at, dt.UTC).replace(tzinfo=None)
    conn.device_id = tokens.device_id
    if tokens.user_id is not None:
        conn.vk_user_id = tokens.user_id


def _expires_within(conn: VkConnection, margin: dt.timedelta) -> bool:
    return conn.token_expires_at is not None and conn.token_expires_at <= utcnow() + margin


def needs_refresh(conn: VkConnection, margin: dt.timedelta = EXPIRY_MARGIN) -> bool:
    """A VK ID connection whose access token expires within ``margin`` and that can still be refreshed."""
    return conn.method == METHOD_VKID and bool(conn.refresh_token) and _expires_within(conn, margin)


def refresh_vk_token(conn: VkConnection, *, stale_token: str | None = None) -> str | None:
    """A working access token for ``conn`` after ``stale_token`` (default: the one ``conn`` holds) failed.

    One refresh at a time per connection across workers (a Redis lock). Under the lock the row is re-read
    in a session of its own: when another worker already rotated the tokens, theirs is used and VK ID is
    not asked again. The rotated refresh token is committed before the lock is released. ``conn`` (the
    caller's object) is updated in place without becoming dirty.

    Returns None when the connection cannot be refreshed (not VK ID, or VK ID refused: the connection is
    then marked broken and the merchant emailed). Raises RefreshUnavailable for passing trouble.
    """
    stale = stale_token if stale_token is not None else conn.access_token
    return _refresh(conn.id, stale, conn)


def _refresh(conn_id: int, stale: str | None, target: VkConnection | None) -> str | None:
    with locks.merchant_lock(REFRESH_LOCK, conn_id, ttl=REFRESH_LOCK_TTL, wait=REFRESH_LOCK_WAIT) as held:
        if not held:
            raise RefreshUnavailable("another worker is still refreshing this token")
        with Session(db.engine, expire_on_commit=False) as session:
            row = session.get(VkConnection, conn_id)
            token = _refresh_locked(session, row, stale)
            if row is not None and target is not None:
                _copy_token_fields(row, target)
            return token


def _refresh_locked(session: Session, row: VkConnection | None, stale: str | None) -> str | None:
    if row is None or row.method != METHOD_VKID or not row.access_token:
        return None
    if row.access_token != stale and not _expires_within(row, STILL_VALID_MARGIN):
        log.info("vk id token already refreshed by another worker", extra={"user_id": row.user_id})
        return row.access_token
    if not row.refresh_token or not row.device_id:
        return None  # refused before: the merchant has to sign in again
    try:
        tokens = _refresh_with_retries(row.refresh_token, row.device_id)
    except VkIdError as exc:
        if exc.retryable:
            raise RefreshUnavailable(exc.error) from exc
        _mark_refresh_refused(session, row, exc)
        return None
    store_tokens(row, tokens)
    session.commit()
    log.info("vk id token refreshed", extra={"user_id": row.user_id})
    return tokens.access_token


def _refresh_with_retries(refresh_token: str, device_id: str) -> VkIdTokens:
    client = vkid_client()
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            return client.refresh(refresh_token, device_id)
        except VkIdError as exc:
            if not exc.retryable or attempt == REFRESH_ATTEMPTS - 1:
                raise
            log.warning("vk id refresh: %s, retry %d", exc.error, attempt + 1)
            time.sleep(0.5 * (2**attempt))
    raise AssertionError("unreachable")


def _copy_token_fields(source: VkConnection, target: VkConnection) -> None:
    if source is target:
        return
    for name in _TOKEN_FIELDS:
        set_committed_value(target, name, getattr(source, name))


def _mark_refresh_refused(session: Session, row: VkConnection, exc: VkIdError) -> None:
    """VK ID will not refresh: this connection (only) is broken, the merchant reads why and is emailed once."""
    row.refresh_token = None  # dead; keeping it would only repeat the refusal
    row.state = ConnectionState.BROKEN
    row.last_error = reconnect_message()
    row.last_error_at = utcnow()
    session.commit()
    log.warning("vk id refresh refused", extra={"user_id": row.user_id, "vkid_error": exc.error})
    user = session.get(User, row.user_id)
    if user is not None and user.email:
        _email_reconnect(user.email, row.group_name)


def reconnect_message() -> str:
    return _(
        "Your VK sign-in has expired or was withdrawn in VK, so EvoSync can no longer update your community's "
        'products. Press "Connect with VK" on the Connections page to sign in again; your settings are kept.'
    )


def _email_reconnect(address: str, group_name: str) -> None:
    link = current_app.config["BASE_URL"].rstrip("/") + "/connections"
    subject = _("EvoSync: please connect VK again")
    context = {"link": link, "group_name": group_name, "subject": subject}
    try:
        notifications.send_email(
            address,
            subject,
            render_template("vkid/email_reconnect.txt", **context),
            render_template("vkid/email_reconnect.html", **context),
        )
    except Exception:  # the connection is already marked; a mail problem must not break the caller
        log.exception("vk id reconnect email failed")


def token_refresher_for(conn: VkConnection) -> Callable[[], str | None]:
    """A ``token_refresher`` for VkClient: refreshes after the token it last handed out failed."""
    conn_id, current = conn.id, {"token": conn.access_token}

    def refresher() -> str | None:
        token = _refresh(conn_id, current["token"], conn)
        if token:
            current["token"] = token
        return token

    return refresher


def ensure_fresh_token(conn: VkConnection, margin: dt.timedelta = EXPIRY_MARGIN) -> None:
    """Before a run: refresh a VK ID token expiring within ``margin``; trouble is logged, never raised."""
    if not needs_refresh(conn, margin):
        return
    try:
        refresh_vk_token(conn)
    except RefreshUnavailable as exc:
        log.warning("vk id early refresh postponed: %s", exc, extra={"user_id": conn.user_id})
