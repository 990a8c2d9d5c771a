"""A merchant's Evotor and VK connections: client factories, connect/disconnect, and the connection checks.

Other services (catalog mirrors, sync, jobs) build their API clients ONLY through the factories here,
so every client gets the configured URLs, timeouts and, for VK, the rate limiter shared through Redis:

    client = evotor_client_for(conn)          # EvotorClient with conn's cloud token
    client = vk_client_for(conn)              # VkClient with conn's token, under the shared limiter
    record_failure(conn, exc)                 # a failed call: plain-words last_error, broken on auth errors
    record_success(conn)                      # a successful call: last_ok_at, state connected

Messages stored in ``last_error`` are the merchant's words (never a token, never a raw stack trace).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import current_app
from flask_babel import gettext as _

from ..clients.errors import (
    EvotorAuthError,
    EvotorError,
    EvotorPaymentRequired,
    VkAccessDenied,
    VkApiError,
    VkAuthError,
    VkInvalidParam,
    VkMarketDisabled,
)
from ..clients.evotor import EvotorClient
from ..clients.ratelimit import RateLimiter
from ..clients.vk import VkClient
from ..extensions import db
from ..models import ConnectionState, EvotorConnection, VkConnection, utcnow
from ..queues import HIGH
from ..redis_conn import get_redis
from .connection_problems import (
    BREAKING_ERRORS,
    NotConnectedError,
    evotor_error_message,
    is_not_found,
    vk_error_message,
)
from .evotor_pace import evotor_pace_for
from .refreshes import request_catalog_refresh
from .vkid_tokens import METHOD_VKID, ensure_fresh_token, token_refresher_for

log = logging.getLogger(__name__)

SOURCE_MANUAL = "manual"
SOURCE_WEBHOOK = "webhook"
MAX_TOKEN_LENGTH = 1024

# What the /connections page says about the Evotor side.
EVOTOR_NOT_CONNECTED = "not_connected"
EVOTOR_CONNECTED_BY_EVOTOR = "connected_by_evotor"
EVOTOR_CONNECTED_BY_HAND = "connected_by_hand"
EVOTOR_BROKEN = "broken"


# --------------------------------------------------------------------------------------------- factories


def evotor_client(token: str, *, session: requests.Session | None = None, max_retries: int = 3) -> EvotorClient:
    """An Evotor client for a raw cloud token, configured from EVOTOR_API_URL / EVOTOR_TIMEOUT."""
    cfg = current_app.config
    return EvotorClient(
        token,
        cfg["EVOTOR_API_URL"],
        session=session,
        timeout=cfg["EVOTOR_TIMEOUT"],
        max_retries=max_retries,
        limiter=evotor_pace_for(token),
        rate_wait_max=cfg["EVOTOR_RETRY_AFTER_MAX_WAIT"],
    )


def evotor_client_for(
    conn: EvotorConnection | None, *, session: requests.Session | None = None, max_retries: int = 3
) -> EvotorClient:
    """The Evotor client of a merchant's connection; NotConnectedError when it holds no cloud token."""
    if conn is None or not conn.access_token:
        raise NotConnectedError("Evotor is not connected")
    return evotor_client(conn.access_token, session=session, max_retries=max_retries)


def vk_limiter_for(token: str) -> RateLimiter:
    """The Redis-shared limiter of one VK token (VK_RATE_LIMIT_PER_SECOND), keyed by a hash of the token."""
    return RateLimiter.for_token(get_redis(), token, rate=current_app.config["VK_RATE_LIMIT_PER_SECOND"])


def vk_client(
    token: str,
    *,
    session: requests.Session | None = None,
    max_retries: int = 3,
    token_refresher: Any = None,
) -> VkClient:
    """A VK client for a raw user token: VK_API_URL, VK_API_VERSION, VK_TIMEOUT and the shared limiter."""
    cfg = current_app.config
    return VkClient(
        token,
        cfg["VK_API_URL"],
        version=cfg["VK_API_VERSION"],
        session=session,
        timeout=cfg["VK_TIMEOUT"],
        limiter=vk_limiter_for(token),
        max_retries=max_retries,
        token_refresher=token_refresher,
        flood_retries=cfg["VK_FLOOD_RETRIES"],
        flood_pause=cfg["VK_FLOOD_PAUSE_SECONDS"],
    )


def vk_client_for(
    conn: VkConnection | None,
    *,
    session: requests.Session | None = None,
    max_retries: int = 3,
    token_refresher: Any = None,
) -> VkClient:
    """The VK client of a merchant's connection; NotConnectedError when it holds no token.

    A VK ID connection gets its token refreshed ahead of time when it expires within minutes, and a
    refresher for error 5 (services/vkid_tokens.py).
    """
    if conn is None or not conn.access_token:
        raise NotConnectedError("VK is not connected")
    if conn.method == METHOD_VKID and token_refresher is None:
        ensure_fresh_token(conn)
        token_refresher = token_refresher_for(conn)
    return vk_client(conn.access_token, session=session, max_retries=max_retries, token_refresher=token_refresher)


# --------------------------------------------------------------------------------------------- lookups


def get_evotor_connection(user_id: int) -> EvotorConnection | None:
    return db.session.execute(db.select(EvotorConnection).filter_by(user_id=user_id)).scalar_one_or_none()


def get_vk_connection(user_id: int) -> VkConnection | None:
    return db.session.execute(db.select(VkConnection).filter_by(user_id=user_id)).scalar_one_or_none()


def evotor_connection_for_update(user_id: int) -> EvotorConnection:
    """The user's Evotor connection row, created (not yet committed) if missing."""
    conn = get_evotor_connection(user_id)
    if conn is None:
        conn = EvotorConnection(user_id=user_id, source=SOURCE_MANUAL, state=ConnectionState.NOT_CONNECTED)
        db.session.add(conn)
    return conn


def vk_connection_for_update(user_id: int) -> VkConnection:
    conn = get_vk_connection(user_id)
    if conn is None:
        conn = VkConnection(user_id=user_id, state=ConnectionState.NOT_CONNECTED)
        db.session.add(conn)
    return conn


def evotor_display_state(conn: EvotorConnection | None) -> str:
    """not_connected / connected_by_evotor / connected_by_hand / broken, as the page shows it."""
    if conn is None or not conn.access_token or conn.state == ConnectionState.NOT_CONNECTED:
        return EVOTOR_NOT_CONNECTED
    if conn.state == ConnectionState.BROKEN:
        return EVOTOR_BROKEN
    return EVOTOR_CONNECTED_BY_EVOTOR if conn.source == SOURCE_WEBHOOK else EVOTOR_CONNECTED_BY_HAND


def record_success(conn: EvotorConnection | VkConnection, *, commit: bool = True) -> None:
    """A call with this connection worked: it is live, and its last error is history."""
    conn.state = ConnectionState.CONNECTED
    conn.last_ok_at = utcnow()
    conn.last_error = None
    conn.last_error_at = None
    if commit:
        db.session.commit()


def record_failure(conn: EvotorConnection | VkConnection, exc: Exception, *, commit: bool = True) -> str:
    """A call failed: store the plain-words message, mark the connection broken if the merchant must act.

    Returns the message. Transient failures leave the state as it was.
    """
    is_vk = isinstance(conn, VkConnection)
    message = vk_error_message(exc, conn.group_name) if is_vk else evotor_error_message(exc)
    conn.last_error = message
    conn.last_error_at = utcnow()
    if isinstance(exc, BREAKING_ERRORS) or is_not_found(exc):
        conn.state = ConnectionState.BROKEN
    if commit:
        db.session.commit()
    return message


# --------------------------------------------------------------------------------------------- results


@dataclass
class CheckResult:
    """The outcome of a connection check, as the Test buttons show it.

    ``problem`` names what failed (token / access / market / community / service / not_connected).
    """

    ok: bool
    message: str
    problem: str | None = None
    stores: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def evotor_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "stores": self.stores or 0, "problem": self.problem}

    def vk_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "problem": self.problem, **self.extra}


def _problem_of(exc: Exception) -> str:
    if isinstance(exc, NotConnectedError):
        return "not_connected"
    if isinstance(exc, EvotorAuthError | VkAuthError):
        return "token"
    if isinstance(exc, VkMarketDisabled):
        return "market"
    if isinstance(exc, VkAccessDenied | EvotorPaymentRequired):
        return "access"
    if is_not_found(exc):
        return "community"
    return "service"


# --------------------------------------------------------------------------------------------- Evotor


def _count_stores(client: EvotorClient) -> int:
    """How many stores the token sees (GET /stores); raises the client's EvotorError."""
    return sum(1 for _store in client.iter_stores())


def check_evotor(user_id: int) -> CheckResult:
    """Call GET /stores with the user's stored token and record the outcome on the connection."""
    conn = get_evotor_connection(user_id)
    try:
        client = evotor_client_for(conn, max_retries=1)
    except NotConnectedError as exc:
        return CheckResult(False, evotor_error_message(exc), _problem_of(exc))
    return _run_evotor_check(conn, client)


def _run_evotor_check(conn: EvotorConnection, client: EvotorClient) -> CheckResult:
    try:
        stores = _count_stores(client)
    except EvotorError as exc:
        message = record_failure(conn, exc)
        log.info("evotor check failed", extra={"user_id": conn.user_id, "error": type(exc).__name__})
        return CheckResult(False, message, _problem_of(exc))
    record_success(conn)
    message = (
        _("Evotor is connected: %(n)d store(s) found.", n=stores)
        if stores
        else _("Evotor is connected, but the account has no stores yet.")
    )
    return CheckResult(True, message, None, stores=stores)


def connect_evotor_by_hand(user_id: int, token: str) -> CheckResult:
    """Store a cloud token the merchant pasted, then check it; the result is recorded on the connection."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ValueError("token must be 1..1024 characters")
    conn = evotor_connection_for_update(user_id)
    if conn.access_token != token:
        conn.access_token = token
        conn.source = SOURCE_MANUAL
        conn.last_ok_at = None
    # Unknown until checked; a failed check of a fresh token must not leave it looking live.
    conn.state = ConnectionState.BROKEN
    db.session.commit()
    result = _run_evotor_check(conn, evotor_client(token, max_retries=1))
    log.info("evotor token saved", extra={"user_id": user_id, "ok": result.ok})
    if result.ok:  # read the catalog at once, so the stores page has something to show
        request_catalog_refresh(user_id, queue=HIGH, sync_after=False)
    return result


def disconnect_evotor(user_id: int) -> bool:
    """Forget the Evotor cloud token; the Evotor link (userId, our api_token) stays for the partner webhooks."""
    return _disconnect(get_evotor_connection(user_id), "evotor")


def _disconnect(conn: EvotorConnection | VkConnection | None, name: str) -> bool:
    """Forget the connection's tokens (what identifies the account or community stays); False if it had none."""
    if conn is None or not conn.access_token:
        return False
    conn.access_token = None
    if isinstance(conn, VkConnection):
        conn.refresh_token = None
        conn.token_expires_at = None
    conn.state = ConnectionState.NOT_CONNECTED
    conn.last_error = None
    conn.last_error_at = None
    db.session.commit()
    log.info(f"{name} disconnected", extra={"user_id": conn.user_id})
    return True


# --------------------------------------------------------------------------------------------- VK

_VK_HOSTS = ("vk.com", "vk.ru", "m.vk.com", "m.vk.ru", "www.vk.com", "www.vk.ru")
_NUMERIC_PREFIXES = ("club", "public", "event")
_SCREEN_NAME = re.compile(r"^[A-Za-z0-9_.]{2,64}$")


def parse_group_ref(raw: str) -> int | str:
    """A community as the merchant typed it -> its positive id, or a screen name to resolve.

    Accepts ``123``, ``-123``, ``club123``, ``public123``, ``event123``, ``https://vk.com/club123``,
    ``vk.com/screen_name`` and ``screen_name``. Raises ValueError for anything else.
    """
    ref = (raw or "").strip()
    ref = re.sub(r"^[a-z]+://", "", ref, flags=re.IGNORECASE)
    host, slash, rest = ref.partition("/")
    if slash and host.lower() in _VK_HOSTS:
        ref = rest
    elif slash or host.lower() in _VK_HOSTS:
        raise ValueError("not a VK community address")
    ref = re.split(r"[/?#]", ref, maxsplit=1)[0].strip().lstrip("@")
    if re.fullmatch(r"-?\d+", ref):
        if len(ref.lstrip("-")) > 19:
            raise ValueError("not a community id")
        group_id = abs(int(ref))
        if group_id == 0 or group_id > 2**53:
            raise ValueError("not a community id")
        return group_id
    lower = ref.lower()
    for prefix in _NUMERIC_PREFIXES:
        digits = lower[len(prefix) :]
        if lower.startswith(prefix) and digits.isdigit():
            if len(digits) > 19 or int(digits) == 0:
                raise ValueError("not a community id")
            return int(digits)
    if _SCREEN_NAME.match(ref):
        return ref
    raise ValueError("not a VK community id, address or short name")


def _find_vk_group(client: VkClient, group_ref: int | str) -> dict[str, Any]:
    """groups.getById: proves the token (5) and finds the community (100, 203): {id, name, screen_name, raw}."""
    group = client.get_group(group_ref)
    return {
        "id": int(group["id"]),
        "name": str(group.get("name") or ""),
        "screen_name": str(group.get("screen_name") or ""),
        "raw": group,
    }


def _check_vk_access(client: VkClient, group: dict[str, Any]) -> None:
    """Administrator (15), products enabled (1438), and one market read proving the "market" right.

    ``is_admin`` and ``market.enabled`` come from groups.getById; market.getAlbums catches what they
    cannot say (a token without the "market" scope answers 15 there).
    """
    raw = group["raw"]
    if "is_admin" in raw and not int(raw.get("is_admin") or 0):
        raise VkAccessDenied(15, "not an administrator of the community", "groups.getById")
    market = raw.get("market")
    if isinstance(market, dict) and "enabled" in market and not int(market.get("enabled") or 0):
        raise VkMarketDisabled(1438, "market is disabled", "groups.getById")
    client.call("market.getAlbums", owner_id=-group["id"], count=1)


def _apply_vk_group(conn: VkConnection, group: dict[str, Any]) -> None:
    conn.group_id = group["id"]
    conn.group_name = group["name"][:255]
    conn.group_screen_name = group["screen_name"][:255]


def assign_community(conn: VkConnection, group_ref: int | str) -> None:
    """Store the community the merchant named (an id, or a screen name resolved by the check that follows) and
    mark the connection unknown until that check passes (committed)."""
    if isinstance(group_ref, int):
        if conn.group_id != group_ref:
            conn.group_name, conn.group_screen_name = "", ""
        conn.group_id = group_ref
    else:
        conn.group_id, conn.group_name, conn.group_screen_name = None, "", group_ref
    conn.market_enabled = None
    conn.state = ConnectionState.BROKEN  # unknown until the check passes
    db.session.commit()


def _run_vk_check(conn: VkConnection, client: VkClient, group_ref: int | str) -> CheckResult:
    try:
        group = _find_vk_group(client, group_ref)
        _apply_vk_group(conn, group)  # known now, so a failure below can name the community
        _check_vk_access(client, group)
    except VkApiError as exc:
        if isinstance(exc, VkMarketDisabled):
            conn.market_enabled = False
        message = record_failure(conn, exc)
        log.info("vk check failed", extra={"user_id": conn.user_id, "vk_error": exc.code})
        return CheckResult(False, message, _problem_of(exc))
    conn.market_enabled = True
    record_success(conn)
    message = _(
        "VK is connected: community «%(name)s» (id %(id)d), products are enabled.", name=group["name"], id=group["id"]
    )
    return CheckResult(True, message, None, extra={"group_id": group["id"], "group_name": group["name"]})


def check_vk(user_id: int) -> CheckResult:
    """Check the stored VK token against the stored community and record the outcome."""
    conn = get_vk_connection(user_id)
    try:
        client = vk_client_for(conn, max_retries=1)
    except NotConnectedError as exc:
        return CheckResult(False, vk_error_message(exc), _problem_of(exc))
    ref: int | str | None = conn.group_id or conn.group_screen_name or None
    if ref is None:
        return CheckResult(False, vk_error_message(VkInvalidParam(100, "no community")), "community")
    return _run_vk_check(conn, client, ref)


def connect_vk(user_id: int, token: str, group: str) -> CheckResult:
    """Store a VK token and community (any form parse_group_ref accepts), then check and record them.

    Raises ValueError (nothing stored) when the token is empty or the community cannot be parsed.
    """
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise ValueError("token must be 1..1024 characters")
    group_ref = parse_group_ref(group)
    conn = vk_connection_for_update(user_id)
    if conn.access_token != token:
        conn.access_token = token
        conn.method = "token"
        conn.refresh_token = None
        conn.token_expires_at = None
        conn.last_ok_at = None
    assign_community(conn, group_ref)
    result = _run_vk_check(conn, vk_client(token, max_retries=1), group_ref)
    log.info("vk token saved", extra={"user_id": user_id, "ok": result.ok})
    return result


def disconnect_vk(user_id: int) -> bool:
    """Forget the VK tokens; the community stays remembered so reconnecting is one paste."""
    return _disconnect(get_vk_connection(user_id), "vk")
