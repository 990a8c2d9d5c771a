"""Reads for the incident check: which merchants to look at, and the plain facts the rules need, a chunk at a time.

Three queries a chunk of merchants: accounts with their connections and settings; their finished runs of the
last few intervals (rules.Limits.runs_window, through the (user_id, created_at) index); and, only for those
with no success in that window, when their last success was.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import (
    ConnectionState,
    EvotorConnection,
    Incident,
    RunStatus,
    SyncConfig,
    SyncRun,
    User,
    UserStatus,
    VkConnection,
)
from . import rules

SUCCESS = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)  # finished; a few refused products do not make a stall
COUNTED = (*SUCCESS, RunStatus.FAILED, RunStatus.WAITING_CONFIRMATION)  # cancelled runs were covered by another
VKID = "vkid"


@dataclass(frozen=True)
class Merchant:
    facts: rules.Facts
    shop: str  # the VK community's name, for the email


def candidate_user_ids() -> list[int]:
    """Merchants with a connection row (set up once), and anyone with an open incident (to close it)."""
    query = sa.union(
        sa.select(EvotorConnection.user_id),
        sa.select(VkConnection.user_id),
        sa.select(Incident.user_id).where(Incident.open_user_id.is_not(None)),
    )
    return sorted(db.session.scalars(query))


def load(user_ids: list[int], now: dt.datetime, limits: rules.Limits, open_reasons: dict[int, list[str]]):
    """The facts of each merchant in ``user_ids`` (users that no longer exist are left out)."""
    if not user_ids:
        return []
    rows = db.session.execute(
        sa.select(
            User.id,
            User.status,
            SyncConfig.auto_sync,
            EvotorConnection.state.label("e_state"),
            EvotorConnection.access_token.is_not(None).label("e_token"),
            EvotorConnection.created_at.label("e_created"),
            EvotorConnection.last_ok_at.label("e_ok"),
            EvotorConnection.last_error_at.label("e_error"),
            EvotorConnection.paused_until.label("e_paused"),
            VkConnection.state.label("v_state"),
            VkConnection.access_token.is_not(None).label("v_token"),
            VkConnection.group_id.label("v_group"),
            VkConnection.group_name.label("v_name"),
            VkConnection.created_at.label("v_created"),
            VkConnection.token_expires_at.label("v_expires"),
            VkConnection.method.label("v_method"),
            VkConnection.refresh_token.is_not(None).label("v_refresh"),
            VkConnection.device_id.label("v_device"),
        )
        .outerjoin(SyncConfig, SyncConfig.user_id == User.id)
        .outerjoin(EvotorConnection, EvotorConnection.user_id == User.id)
        .outerjoin(VkConnection, VkConnection.user_id == User.id)
        .where(User.id.in_(user_ids))
        .order_by(User.id)
    ).all()
    results, last_success = _runs(user_ids, now - limits.runs_window)
    missing = [row.id for row in rows if row.id not in last_success]
    last_success.update(_last_success_ever(missing))
    merchants = []
    for row in rows:
        statuses = results.get(row.id, [])
        success_at = last_success.get(row.id)
        has_synced = success_at is not None or bool({rules.STALE, rules.FAILING} & set(open_reasons.get(row.id, ())))
        facts = rules.Facts(
            user_id=row.id,
            active=row.status == UserStatus.ACTIVE,
            auto_sync=row.auto_sync is not False,  # no settings row: the default, on
            evotor=_evotor(row),
            vk=_vk(row),
            has_synced=has_synced,
            last_success_at=success_at,
            recent_results=tuple(statuses),
            waiting_confirmation=bool(statuses) and statuses[0] == RunStatus.WAITING_CONFIRMATION,
        )
        merchants.append(Merchant(facts, row.v_name or ""))
    return merchants


def _evotor(row) -> rules.EvotorFacts | None:
    if not row.e_token or row.e_state in (None, ConnectionState.NOT_CONNECTED):
        return None
    return rules.EvotorFacts(
        state=str(row.e_state),
        connected_at=row.e_created,
        last_ok_at=row.e_ok,
        last_error_at=row.e_error,
        paused_until=row.e_paused,
    )


def _vk(row) -> rules.VkFacts | None:
    if not row.v_token or not row.v_group or row.v_state in (None, ConnectionState.NOT_CONNECTED):
        return None
    return rules.VkFacts(
        state=str(row.v_state),
        connected_at=row.v_created,
        token_expires_at=row.v_expires,
        can_refresh=row.v_method == VKID and bool(row.v_refresh) and bool(row.v_device),
    )


def _runs(user_ids: list[int], since: dt.datetime) -> tuple[dict[int, list[str]], dict[int, dt.datetime]]:
    """Finished runs since ``since``: statuses newest first, and the last success, per merchant."""
    finished = sa.func.coalesce(SyncRun.finished_at, SyncRun.created_at)
    rows = db.session.execute(
        sa.select(SyncRun.user_id, SyncRun.status, finished.label("finished"))
        .where(
            SyncRun.user_id.in_(user_ids),
            SyncRun.created_at >= since,
            SyncRun.dry_run.is_(False),
            SyncRun.status.in_([str(s) for s in COUNTED]),
        )
        .order_by(SyncRun.user_id, SyncRun.created_at.desc(), SyncRun.id.desc())
    ).all()
    statuses: dict[int, list[str]] = defaultdict(list)
    last_success: dict[int, dt.datetime] = {}
    for row in rows:
        statuses[row.user_id].append(str(row.status))
        if row.status in SUCCESS and (row.user_id not in last_success or row.finished > last_success[row.user_id]):
            last_success[row.user_id] = row.finished
    return statuses, last_success


def _last_success_ever(user_ids: list[int]) -> dict[int, dt.datetime]:
    """The last success of merchants with none in the window (few: the stalled and the new)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        sa.select(SyncRun.user_id, sa.func.max(sa.func.coalesce(SyncRun.finished_at, SyncRun.created_at)))
        .where(
            SyncRun.user_id.in_(user_ids),
            SyncRun.dry_run.is_(False),
            SyncRun.status.in_([str(s) for s in SUCCESS]),
        )
        .group_by(SyncRun.user_id)
    ).all()
    return {user_id: at for user_id, at in rows if at is not None}
