"""VK ID "Connect with VK": the PKCE sign-in, storing the tokens, and refreshing them one worker at a time.

    url = start_flow(user_id)                 # where to send the browser (state + code_verifier kept in Redis)
    conn = finish_flow(user_id, request.args) # callback: state checked (single use), code exchanged, tokens stored
    admin_communities(user_id)                # communities the VK user manages, for the merchant to pick
    choose_community(user_id, "club123")      # store the pick and run the usual connection test
    refresh_vk_token(conn)                    # new access token (rotated refresh token stored) or None
    token_refresher_for(conn)                 # plugs refresh_vk_token into VkClient (vk_client_for does it)
    ensure_fresh_token(conn)                  # refresh ahead of time when the token expires within 5 minutes

A refresh that VK ID refuses (revoked / invalid_grant) marks only that merchant's VK connection broken,
says so in plain words on the Connections page and by email, and forgets the dead refresh token.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app, render_template
from flask_babel import gettext as _
from redis.exceptions import LockError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..clients.errors import VkApiError, VkIdError
from ..clients.vkid import VkIdClient, VkIdTokens, new_pkce
from ..extensions import db
from ..models import ConnectionState, User, VkConnection, utcnow
from ..redis_conn import get_redis
from . import notifications
from .connections import (
    CheckResult,
    NotConnectedError,
    check_vk,
    get_vk_connection,
    parse_group_ref,
    vk_connection_for_update,
)

log = logging.getLogger(__name__)

METHOD_VKID = "vkid"
CALLBACK_PATH = "/connections/vk/vkid/callback"
FLOW_KEY = "evosync:vkid:flow:{state}"
FLOW_TTL = 600  # seconds a started sign-in may take (state and code_verifier are forgotten after that)
REFRESH_LOCK_KEY = "evosync:lock:vkid-refresh:{conn_id}"
REFRESH_LOCK_TTL = 60  # longer than the refresh attempts below can take
REFRESH_LOCK_WAIT = 75  # a waiting worker gives up after this (then its call fails like a network error)
REFRESH_ATTEMPTS = 3  # VK ID down or slow: try again shortly, a rotation is not lost by a retry
EXPIRY_MARGIN = dt.timedelta(minutes=5)  # refresh ahead of a run when the token expires this soon
STILL_VALID_MARGIN = dt.timedelta(seconds=15)  # a token another worker just got is used if it lives this long

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


class VkIdFlowError(Exception):
    """The sign-in could not finish; ``reason`` is state / denied / code / service / not_configured."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason

    @property
    def message(self) -> str:
        """What happened, in the merchant's words, with what to do next."""
        messages = {
            "state": _(
                "This sign-in link is out of date or was already used (it works once, for 10 minutes). "
                'Nothing was changed. Press "Connect with VK" to start again.'
            ),
            "denied": _(
                "You did not allow EvoSync to manage your community's products in VK, so nothing was changed. "
                'Press "Connect with VK" again when you are ready, or paste a token by hand.'
            ),
            "code": _(
                "VK did not accept the sign-in: it took too long or was already used. Nothing was changed. "
                'Press "Connect with VK" to try again.'
            ),
            "service": _("VK ID is not answering right now. Nothing was changed. Please try again in a few minutes."),
            "not_configured": _("Connecting with VK is not set up on this EvoSync server. Paste a VK token instead."),
        }
        return messages.get(self.reason, messages["code"])


class RefreshUnavailable(Exception):
    """The token could not be refreshed right now (VK ID down, another worker stuck); nothing was marked broken."""


# --------------------------------------------------------------------------------------------- settings


def is_configured() -> bool:
    """Whether "Connect with VK" can be offered (VK_ID_CLIENT_ID is set)."""
    return bool(current_app.config.get("VK_ID_CLIENT_ID"))


def redirect_uri() -> str:
    """Where VK ID sends the browser back: BASE_URL + the callback path (register it in the VK ID app)."""
    return current_app.config["BASE_URL"].rstrip("/") + CALLBACK_PATH


def scope() -> str:
    return current_app.config.get("VK_ID_SCOPE") or "market groups"


def vkid_client() -> VkIdClient:
    cfg = current_app.config
    return VkIdClient(
        cfg["VK_ID_URL"],
        cfg["VK_ID_CLIENT_ID"],
        client_secret=cfg.get("VK_ID_CLIENT_SECRET") or None,
        timeout=cfg.get("VK_TIMEOUT", 10),
    )


# --------------------------------------------------------------------------------------------- sign-in


def start_flow(user_id: int) -> str:
    """A fresh state and code_verifier (kept server-side for 10 minutes, usable once); the authorize URL."""
    if not is_configured():
        raise VkIdFlowError("not_configured")
    state = secrets.token_urlsafe(32)
    verifier, challenge = new_pkce()
    record = {"user_id": user_id, "verifier": verifier, "redirect_uri": redirect_uri(), "at": int(time.time())}
    get_redis().set(FLOW_KEY.format(state=state), json.dumps(record), ex=FLOW_TTL)
    log.info("vk id sign-in started", extra={"user_id": user_id})
    return vkid_client().authorize_url(redirect_uri(), state, challenge, scope=scope())


def _take_flow(state: str) -> dict[str, Any] | None:
    """The started sign-in of ``state``, removed in the same step: a second callback finds nothing."""
    if not state or len(state) > 200:
        return None
    pipe = get_redis().pipeline(transaction=True)
    key = FLOW_KEY.format(state=state)
    pipe.get(key)
    pipe.delete(key)
    raw, deleted = pipe.execute()
    if not raw or not deleted:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def finish_flow(user_id: int, args: Mapping[str, str]) -> VkConnection:
    """The callback: check state (this user's, unused, not expired), exchange the code, store the tokens.

    The connection is left "needs attention" until the merchant picks the community (choose_community).
    Raises VkIdFlowError; nothing is stored then.
    """
    flow = _take_flow(args.get("state", ""))
    if flow is None or flow.get("user_id") != user_id:
        log.info("vk id callback with an unknown state", extra={"user_id": user_id})
        raise VkIdFlowError("state")
    if args.get("error"):
        log.info("vk id consent refused", extra={"user_id": user_id, "vkid_error": args.get("error")[:64]})
        raise VkIdFlowError("denied")
    code, device_id = args.get("code", ""), args.get("device_id", "")
    if not code or not device_id:
        raise VkIdFlowError("code", "code or device_id missing")
    try:
        tokens = vkid_client().exchange_code(code, flow["verifier"], device_id, flow["redirect_uri"], args["state"])
    except VkIdError as exc:
        log.info("vk id code exchange failed", extra={"user_id": user_id, "vkid_error": exc.error})
        raise VkIdFlowError("service" if exc.retryable else "code", exc.error) from exc
    conn = vk_connection_for_update(user_id)
    _store_tokens(conn, tokens)
    conn.vk_user_id = tokens.user_id
    conn.last_ok_at = None
    conn.market_enabled = None
    conn.state = ConnectionState.BROKEN  # usable once the community is picked and tested
    conn.last_error = _("Signed in with VK. Choose the community to publish to, to finish connecting.")
    conn.last_error_at = utcnow()
    db.session.commit()
    log.info("vk id tokens stored", extra={"user_id": user_id})
    return conn


def _store_tokens(conn: VkConnection, tokens: VkIdTokens) -> None:
    conn.method = METHOD_VKID
    conn.access_token = tokens.access_token
    conn.refresh_token = tokens.refresh_token
    conn.token_expires_at = dt.datetime.fromtimestamp(tokens.expires_at, dt.UTC).replace(tzinfo=None)
    conn.device_id = tokens.device_id
    if tokens.user_id is not None:
        conn.vk_user_id = tokens.user_id


def vkid_connection(user_id: int) -> VkConnection | None:
    """The user's VK connection when it was made with VK ID and holds a token."""
    conn = get_vk_connection(user_id)
    if conn is None or conn.method != METHOD_VKID or not conn.access_token:
        return None
    return conn


def admin_communities(user_id: int) -> tuple[list[dict[str, Any]], str | None]:
    """Communities the signed-in VK user administers or edits: ([{id, name, screen_name, market_enabled}], problem).

    ``problem`` is a plain-words message when VK would not list them (the merchant can still type an id).
    """
    conn = vkid_connection(user_id)
    if conn is None:
        return [], None
    from .connections import vk_client_for  # late: vk_client_for itself calls back into this module

    try:
        groups = vk_client_for(conn, max_retries=1).get_admin_groups()
    except VkApiError as exc:
        log.info("vk id: communities not listed", extra={"user_id": user_id, "vk_error": exc.code})
        return [], _("VK did not list your communities. Type your community's address or number instead.")
    found = []
    for group in groups:
        if not isinstance(group, dict) or "id" not in group:
            continue
        market = group.get("market")
        found.append(
            {
                "id": int(group["id"]),
                "name": str(group.get("name") or ""),
                "screen_name": str(group.get("screen_name") or ""),
                "market_enabled": bool(int(market.get("enabled") or 0)) if isinstance(market, dict) else None,
            }
        )
    return found, None


def choose_community(user_id: int, group: str) -> CheckResult:
    """Store the community picked (any form parse_group_ref accepts) and run the usual VK connection test.

    Raises ValueError for an unreadable community, NotConnectedError without a VK ID connection.
    """
    group_ref = parse_group_ref(group)
    conn = vkid_connection(user_id)
    if conn is None:
        raise NotConnectedError("VK ID is not connected")
    if isinstance(group_ref, int):
        if conn.group_id != group_ref:
            conn.group_name, conn.group_screen_name = "", ""
        conn.group_id = group_ref
    else:
        conn.group_id, conn.group_name, conn.group_screen_name = None, "", group_ref
    conn.market_enabled = None
    conn.state = ConnectionState.BROKEN  # unknown until the check passes
    db.session.commit()
    result = check_vk(user_id)
    log.info("vk id community chosen", extra={"user_id": user_id, "ok": result.ok})
    return result


# --------------------------------------------------------------------------------------------- refresh


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
    lock = get_redis().lock(
        REFRESH_LOCK_KEY.format(conn_id=conn_id), timeout=REFRESH_LOCK_TTL, blocking_timeout=REFRESH_LOCK_WAIT
    )
    if not lock.acquire():
        raise RefreshUnavailable("another worker is still refreshing this token")
    try:
        with Session(db.engine, expire_on_commit=False) as session:
            row = session.get(VkConnection, conn_id)
            token = _refresh_locked(session, row, stale)
            if row is not None and target is not None:
                _copy_token_fields(row, target)
            return token
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("vk id refresh lock expired before release", extra={"connection_id": conn_id})


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
    _store_tokens(row, tokens)
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
