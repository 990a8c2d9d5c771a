"""One merchant's Evotor catalog refresh: is the connection usable, run the mirror writer, record the outcome.

Refresh, in short: ``GET /stores`` then, per store, its groups and its products, streamed page by
page and written in bulk chunks (one SELECT of the chunk's existing rows, one bulk INSERT, one bulk
UPDATE by primary key; plain SQLAlchemy, so SQLite and MariaDB behave alike). Rows Evotor no longer
lists are removed, but only after a *complete* listing of that store (an interrupted listing removes
nothing). Memory holds one chunk plus the set of product ids seen in the current store.

Images cost one request per product, too many for 50,000 products every hour. A product's images
are looked up when it is new or its Evotor ``updated_at`` moved since the last look-up
(``image_checked_for`` remembers the ``updated_at`` that was checked), at most
``EVOTOR_IMAGE_CHECKS_PER_REFRESH`` look-ups per refresh; the rest are caught up by later refreshes.
Only the first image is kept (image_id, image_url, image_updated_at).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from flask import current_app

from ... import locks
from ...clients.errors import EvotorAuthError, EvotorError, EvotorRateLimited
from ...clients.evotor import EvotorClient
from ...extensions import db
from ...models import ConnectionState, EvotorConnection, utcnow
from ..connections import evotor_client_for
from ..refreshes import REFRESH_CATALOG
from .mirror import Mirror
from .summary import (
    BROKEN,
    CHUNK_SIZE,
    COALESCED,
    DEFAULT_IMAGE_CHECKS_PER_REFRESH,
    FAILED,
    N_,
    NOT_CONNECTED,
    PAUSED,
    RefreshSummary,
)

log = logging.getLogger(__name__)


def refresh_catalog(
    user_id: int,
    client: EvotorClient | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    image_checks: int | None = None,
) -> RefreshSummary:
    """Mirror one user's Evotor catalog into cached_stores/groups/products; never raises EvotorError.

    One refresh per merchant at a time, whoever asks (the refresh job, the CLI, the demo): under the merchant's
    ``refresh_catalog`` lock; a refresh that finds it taken does nothing and says ``coalesced``.
    """
    with locks.merchant_lock(REFRESH_CATALOG, user_id) as held:
        if held:
            return mirror_catalog(user_id, client, chunk_size=chunk_size, image_checks=image_checks)
    log.info("catalog refresh coalesced: one is running", extra={"user_id": user_id})
    return RefreshSummary(user_id=user_id, status=COALESCED, reason="another refresh of this catalog is running")


def mirror_catalog(
    user_id: int,
    client: EvotorClient | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    image_checks: int | None = None,
) -> RefreshSummary:
    """The refresh itself, without the lock (refresh_catalog holds it around this; the mirror benchmarks time it
    alone, with no Redis).

    ``client`` defaults to ``evotor_client_for(connection)``; ``image_checks`` to the config's
    EVOTOR_IMAGE_CHECKS_PER_REFRESH. Auth errors mark the connection broken, a 429 pauses it,
    a 402 skips that store only; other Evotor errors fail this user's refresh with a logged reason.
    """
    started = time.monotonic()
    summary = RefreshSummary(user_id=user_id)
    try:
        _refresh(user_id, client, chunk_size, image_checks, summary)
    finally:
        summary.duration_seconds = round(time.monotonic() - started, 3)
    log.info(
        "catalog refresh finished",
        extra={"user_id": user_id, "status": summary.status, "summary": summary.as_dict()},
    )
    return summary


def _refresh(
    user_id: int, client: EvotorClient | None, chunk_size: int, image_checks: int | None, summary: RefreshSummary
) -> None:
    conn = db.session.execute(sa.select(EvotorConnection).filter_by(user_id=user_id)).scalar_one_or_none()
    if conn is None or not conn.access_token or conn.state == ConnectionState.NOT_CONNECTED:
        summary.status, summary.reason = NOT_CONNECTED, "Evotor is not connected"
        return
    if conn.state == ConnectionState.BROKEN:
        summary.status, summary.reason = BROKEN, "the Evotor connection needs the merchant's attention"
        return
    now = utcnow()
    if conn.paused_until and conn.paused_until > now:
        summary.status, summary.paused_until = PAUSED, conn.paused_until
        summary.reason = f"paused until {conn.paused_until:%Y-%m-%d %H:%M:%S} UTC (Evotor rate limit)"
        return
    if client is None:
        client = evotor_client_for(conn)
    if image_checks is None:
        image_checks = current_app.config.get("EVOTOR_IMAGE_CHECKS_PER_REFRESH", DEFAULT_IMAGE_CHECKS_PER_REFRESH)
    mirror = Mirror(user_id, client, chunk_size, image_checks, summary)
    try:
        mirror.run()
    except EvotorAuthError as exc:
        db.session.rollback()
        _mark_broken(user_id, exc)
        summary.status, summary.reason = BROKEN, f"Evotor refused the token (HTTP {exc.status})"
        log.warning("catalog refresh: Evotor auth failed", extra={"user_id": user_id, "status": exc.status})
    except EvotorRateLimited as exc:
        db.session.rollback()
        summary.paused_until = pause_evotor(user_id, exc.retry_after)
        summary.status = PAUSED
        summary.reason = f"Evotor rate limit: paused until {summary.paused_until:%Y-%m-%d %H:%M:%S} UTC"
        log.warning("catalog refresh: Evotor rate limit", extra={"user_id": user_id, "retry_after": exc.retry_after})
    except EvotorError as exc:
        db.session.rollback()
        _record_failure(user_id, N_("Evotor did not answer properly; we will try again at the next refresh."))
        summary.status, summary.reason = FAILED, f"{type(exc).__name__}: {exc}"
        log.warning(
            "catalog refresh failed", extra={"user_id": user_id, "error": type(exc).__name__, "reason": str(exc)}
        )
    else:
        conn = db.session.get(EvotorConnection, conn.id)
        conn.last_ok_at = utcnow()
        conn.paused_until = None
        conn.last_error = None
        conn.last_error_at = None
        db.session.commit()


def _connection(user_id: int) -> EvotorConnection:
    return db.session.execute(sa.select(EvotorConnection).filter_by(user_id=user_id)).scalar_one()


def _mark_broken(user_id: int, exc: EvotorAuthError) -> None:
    conn = _connection(user_id)
    conn.state = ConnectionState.BROKEN
    if exc.status == 403:
        conn.last_error = N_(
            "Evotor refused access: the EvoSync app is not installed or lacks rights in your Evotor account. "
            "Install it in the Evotor app store, then reconnect Evotor on the Connections page."
        )
    else:
        conn.last_error = N_(
            "Evotor no longer accepts our access key (it was revoked or has expired). "
            "Please reconnect Evotor on the Connections page."
        )
    conn.last_error_at = utcnow()
    db.session.commit()


def pause_evotor(user_id: int, retry_after: float) -> dt.datetime:
    """Evotor answered 429: no Evotor work for this merchant for ``retry_after`` seconds (committed). Until when."""
    conn = _connection(user_id)
    until = utcnow() + dt.timedelta(seconds=max(1.0, retry_after))
    conn.paused_until = until
    conn.last_error = N_("Evotor asked us to slow down. We will continue automatically after a pause.")
    conn.last_error_at = utcnow()
    db.session.commit()
    return until


def _record_failure(user_id: int, message: str) -> None:
    conn = _connection(user_id)
    conn.last_error = message
    conn.last_error_at = utcnow()
    db.session.commit()


def iter_refreshable_user_ids() -> Iterator[int]:
    """Users whose Evotor connection is connected (broken and unconnected ones are left alone)."""
    rows = db.session.execute(
        sa.select(EvotorConnection.user_id)
        .where(EvotorConnection.state == ConnectionState.CONNECTED)
        .order_by(EvotorConnection.user_id)
    ).scalars()
    yield from list(rows)


def refresh_all(user_ids: Iterable[int] | None = None) -> list[RefreshSummary]:
    """Refresh many users one after another; one user's failure is logged and never stops the others."""
    summaries = []
    for user_id in list(iter_refreshable_user_ids() if user_ids is None else user_ids):
        try:
            summaries.append(refresh_catalog(user_id))
        except Exception as exc:  # a bug or a database hiccup for one merchant must not stop the loop
            db.session.rollback()
            log.exception("catalog refresh crashed", extra={"user_id": user_id})
            summaries.append(RefreshSummary(user_id=user_id, status=FAILED, reason=f"{type(exc).__name__}: {exc}"))
    return summaries


def last_refresh(user_id: int) -> dt.datetime | None:
    """When the user's catalog last refreshed completely (the connection's last_ok_at)."""
    return db.session.scalar(sa.select(EvotorConnection.last_ok_at).filter_by(user_id=user_id))
