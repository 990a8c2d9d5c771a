"""One merchant's VK catalog refresh, under their lock: read, store, and the outcome in the merchant's words.

Failures stay with the merchant they belong to: auth errors mark the connection broken, flood control pauses it,
a switched off market is recorded; ``refresh_all_vk_catalogs`` moves on to the next merchant either way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from ... import locks
from ...clients.errors import VkAccessDenied, VkApiError, VkAuthError, VkFloodControl, VkMarketDisabled
from ...clients.vk import EXECUTE_MAX_CALLS
from ...extensions import db
from ...models import ConnectionState, VkCachedProduct, VkConnection, utcnow
from ...redis_conn import get_redis
from ..connections import record_failure, record_success, vk_client_for
from .read import read_vk_market
from .store import note_variants_mode, store_snapshot
from .summary import VkCatalogRefresh

log = logging.getLogger(__name__)

FLOOD_CONTROL_PAUSE = dt.timedelta(minutes=10)  # error 9
RATE_LIMIT_REACHED_PAUSE = dt.timedelta(hours=1)  # error 29: a daily method limit
LOCK = "vk_catalog"  # locks kind: evosync:lock:vk_catalog:<user_id>
LOCK_SECONDS = 600
# A second caller (a sync pass while "Refresh now" runs) waits for the first, then reads again (cheap).
LOCK_WAIT_SECONDS = 120
STATUS_KEY = "evosync:vk_catalog:last_refresh:{user_id}"


def last_refresh(user_id: int) -> dict | None:
    """The summary of the user's last refresh (as ``VkCatalogRefresh.as_dict``), or None if none is known."""
    raw = get_redis().get(STATUS_KEY.format(user_id=user_id))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _remember(summary: VkCatalogRefresh) -> None:
    summary.finished_at = utcnow().isoformat(timespec="seconds") + "Z"
    try:
        get_redis().set(STATUS_KEY.format(user_id=summary.user_id), json.dumps(summary.as_dict()))
    except Exception:  # noqa: BLE001 - the status line is a convenience; the mirror itself is stored
        log.warning("could not store the vk catalog refresh status", extra={"user_id": summary.user_id})


# Outcome reasons in plain words; lazy so that each reader (page, CLI, job log) gets their own language.
REASON_MESSAGES = {
    "ok": _l("%(albums)s albums and %(products)s products read from VK."),
    "not_connected": _l("VK is not connected yet. Connect your VK community on the Connections page."),
    "broken": _l("The VK connection needs your attention: reconnect VK on the Connections page."),
    "paused": _l("VK asked EvoSync to slow down; VK work for this account is paused until %(until)s UTC."),
    "running": _l("A refresh of your VK catalog is already running."),
    "auth": _l(
        "VK no longer accepts EvoSync's access to your account (it was revoked or has expired). "
        "Reconnect VK on the Connections page."
    ),
    "flood": _l(
        "VK asked EvoSync to slow down (flood control). VK work for this account is paused for "
        "%(minutes)s minutes and resumes by itself."
    ),
    "market_disabled": _l(
        'Products are switched off in your VK community. Turn on "Products" in the community settings '
        "(Manage → Sections), then refresh."
    ),
    "access": _l(
        "VK refused access to the community's products. Make sure the connected VK account is an "
        "administrator of the community."
    ),
    "vk_error": _l("VK did not answer properly; the VK catalog will be refreshed again later."),
    "crashed": _l("Something went wrong while reading your VK catalog; it will be tried again later."),
}


def explain(reason: str, **params: Any) -> str:
    """The plain-words message for a refresh outcome ``reason``, in the current locale."""
    text = str(REASON_MESSAGES.get(reason, REASON_MESSAGES["vk_error"]))
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):  # a translation with a broken placeholder: show it bare
        return text


def _skip_reason(conn: VkConnection | None) -> tuple[str, dict] | None:
    if conn is None or conn.state == ConnectionState.NOT_CONNECTED or not conn.access_token or not conn.group_id:
        return "not_connected", {}
    if conn.state == ConnectionState.BROKEN:
        return "broken", {}
    if conn.paused_until and conn.paused_until > utcnow():
        return "paused", {"until": conn.paused_until.strftime("%Y-%m-%d %H:%M")}
    return None


def _finish(summary: VkCatalogRefresh, status: str, reason: str, **params: Any) -> VkCatalogRefresh:
    summary.status, summary.reason, summary.params = status, reason, params
    summary.message = explain(reason, **params)
    return summary


@contextmanager
def _words_outside_requests() -> Iterator[None]:
    """Jobs and the CLI have no request to choose a language from: word messages in the default one."""
    if has_request_context():
        yield
        return
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE") or "ru"):
        yield


def refresh_vk_catalog(user_id: int) -> VkCatalogRefresh:
    """Refresh one merchant's VK mirror; never raises for VK trouble (the summary and connection tell)."""
    with _words_outside_requests():
        return _refresh_vk_catalog(user_id)


def _refresh_vk_catalog(user_id: int) -> VkCatalogRefresh:
    summary = VkCatalogRefresh(user_id=user_id)
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user_id))
    skip = _skip_reason(conn)
    if skip:
        _finish(summary, "skipped", skip[0], **skip[1])
        log.info("vk catalog refresh skipped", extra={"user_id": user_id, "reason": skip[0]})
        _remember(summary)
        return summary
    with locks.merchant_lock(LOCK, user_id, ttl=LOCK_SECONDS, wait=LOCK_WAIT_SECONDS) as held:
        if not held:
            return _finish(summary, "skipped", "running")
        _refresh_locked(conn, summary)
    _remember(summary)
    return summary


def _refresh_locked(conn: VkConnection, summary: VkCatalogRefresh) -> None:
    user_id, group_id = conn.user_id, int(conn.group_id)
    client = vk_client_for(conn)  # the one factory: token and the Redis-shared limiter
    before = client.requests_made
    expected = db.session.scalar(
        sa.select(sa.func.count()).select_from(VkCachedProduct).where(VkCachedProduct.user_id == user_id)
    )
    per_request = current_app.config.get("VK_CATALOG_PAGES_PER_EXECUTE", EXECUTE_MAX_CALLS)
    try:
        snapshot = read_vk_market(client, group_id, expected_items=expected or 0, pages_per_request=per_request)
    except VkApiError as exc:
        summary.vk_requests = client.requests_made - before
        _record_vk_failure(conn, exc, summary)
        return
    summary.vk_requests = client.requests_made - before
    summary.vk_calls = snapshot.calls
    try:
        store_snapshot(user_id, group_id, snapshot, summary)
        note_variants_mode(conn, snapshot)
        conn.market_enabled = True
        record_success(conn)
    except Exception:
        db.session.rollback()
        raise
    _finish(summary, "ok", "ok", albums=summary.albums, products=summary.products)
    log.info(
        "vk catalog refreshed", extra={k: v for k, v in summary.as_dict().items() if k not in ("message", "params")}
    )


def _record_vk_failure(conn: VkConnection, exc: VkApiError, summary: VkCatalogRefresh) -> None:
    """Word the failure on the summary; on the connection too when the merchant must act or VK said wait.

    The connection's own rules (connections.record_failure) mark it broken on auth / access / market
    errors; flood control (9/29) also pauses the merchant's VK work until ``paused_until``.
    """
    db.session.rollback()
    summary.error_code = exc.code
    params: dict[str, Any] = {}
    if isinstance(exc, VkAuthError):
        reason = "auth"
    elif isinstance(exc, VkFloodControl):
        pause = RATE_LIMIT_REACHED_PAUSE if exc.code == 29 else FLOOD_CONTROL_PAUSE
        conn.paused_until = utcnow() + pause
        reason, params = "flood", {"minutes": int(pause.total_seconds() // 60)}
    elif isinstance(exc, VkMarketDisabled):
        conn.market_enabled = False
        reason = "market_disabled"
    elif isinstance(exc, VkAccessDenied):
        reason = "access"
    else:
        reason = "vk_error"
    _finish(summary, "failed", reason, **params)
    if exc.retryable:  # a passing hiccup (5xx, timeout, 10) says nothing about the connection
        db.session.commit()
    else:
        record_failure(conn, exc)
    log.warning(
        "vk catalog refresh failed",
        extra={"user_id": conn.user_id, "vk_error": exc.code, "vk_method": exc.method, "reason": reason},
    )


def refresh_all_vk_catalogs(user_ids: Iterable[int] | None = None) -> list[VkCatalogRefresh]:
    """Refresh every connected merchant (or the given ones), each on its own: one failing never stops the rest."""
    if user_ids is None:
        user_ids = db.session.scalars(
            sa.select(VkConnection.user_id)
            .where(VkConnection.state == ConnectionState.CONNECTED, VkConnection.group_id.is_not(None))
            .order_by(VkConnection.user_id)
        ).all()
    summaries = []
    with _words_outside_requests():
        for user_id in user_ids:
            try:
                summaries.append(refresh_vk_catalog(user_id))
            except Exception as exc:  # noqa: BLE001 - isolate merchants from each other's surprises
                db.session.rollback()
                log.exception("vk catalog refresh crashed", extra={"user_id": user_id})
                crashed = VkCatalogRefresh(user_id=user_id)
                summaries.append(_finish(crashed, "failed", "crashed", error=type(exc).__name__))
    return summaries
