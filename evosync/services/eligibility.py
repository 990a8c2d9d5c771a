"""Who gets automatic work now: a merchant's account status and connection states, as a reason to skip or None.

The schedule's fan-outs (Evotor refresh, VK refresh, order polls) and the automatic sync requests
(``services/sync/starts.py``) all ask here, so a merchant is skipped for the same reasons everywhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa

from ..extensions import db
from ..models import ConnectionState, EvotorConnection, User, UserStatus, VkConnection


def user_skip_reason(status: str) -> str | None:
    if status == UserStatus.ACTIVE:
        return None
    return f"account is {status}"


def evotor_skip_reason(state: str, has_token: bool, paused_until: dt.datetime | None, now: dt.datetime) -> str | None:
    if state == ConnectionState.BROKEN:
        return "Evotor connection is broken"
    if state != ConnectionState.CONNECTED or not has_token:
        return "Evotor is not connected"
    if paused_until and paused_until > now:
        return f"Evotor work paused until {paused_until:%Y-%m-%d %H:%M:%S} UTC (rate limit)"
    return None


def vk_skip_reason(
    state: str | None, has_token: bool, group_id: int | None, paused_until: dt.datetime | None, now: dt.datetime
) -> str | None:
    if state == ConnectionState.BROKEN:
        return "VK connection is broken"
    if state != ConnectionState.CONNECTED or not has_token or not group_id:
        return "VK is not connected"
    if paused_until and paused_until > now:
        return f"VK work paused until {paused_until:%Y-%m-%d %H:%M:%S} UTC (flood control)"
    return None


def evotor_merchant_rows() -> list:
    """Each merchant with an Evotor connection: user id and status, the connection's state, token presence and
    pause; the read transaction is ended before the caller's slow part."""
    rows = db.session.execute(
        sa.select(
            User.id,
            User.status,
            EvotorConnection.state,
            EvotorConnection.access_token.is_not(None).label("has_token"),
            EvotorConnection.paused_until,
        )
        .join(EvotorConnection, EvotorConnection.user_id == User.id)
        .order_by(User.id)
    ).all()
    db.session.rollback()
    return rows


def evotor_row_skip_reason(row, now: dt.datetime) -> str | None:
    """Why a row of ``evotor_merchant_rows`` gets no Evotor job now, or None."""
    return user_skip_reason(row.status) or evotor_skip_reason(row.state, bool(row.has_token), row.paused_until, now)


def vk_merchant_rows(narrow: Callable[[sa.Select], sa.Select] = lambda query: query) -> list:
    """Each merchant with a VK connection: user id and status, and the connection's state, token presence, group and
    pause (``narrow`` adds joins or filters); the read transaction is ended before the caller's slow part."""
    query = sa.select(
        User.id,
        User.status,
        VkConnection.state,
        VkConnection.access_token.is_not(None).label("has_token"),
        VkConnection.group_id,
        VkConnection.paused_until,
    ).join(VkConnection, VkConnection.user_id == User.id)
    rows = db.session.execute(narrow(query).order_by(User.id)).all()
    db.session.rollback()
    return rows


def vk_row_skip_reason(row, now: dt.datetime) -> str | None:
    """Why a row of ``vk_merchant_rows`` gets no VK job now, or None."""
    return user_skip_reason(row.status) or vk_skip_reason(
        row.state, bool(row.has_token), row.group_id, row.paused_until, now
    )
