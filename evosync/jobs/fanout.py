"""Fan-out: periodic jobs that enqueue one job per active, connected merchant, and those per-merchant jobs.

* ``fanout_catalog_refresh`` -> ``scheduled_catalog_refresh_job(user_id)`` per merchant whose account is
  active and whose Evotor connection is connected and not paused (Evotor 429). After a good refresh that
  job asks for the merchant's VK sync (``request_sync(trigger="schedule")``) when auto-sync is on and the
  VK connection is usable (connected, not paused by flood control).
* ``fanout_vk_refresh`` -> ``scheduled_vk_refresh_job(user_id)`` per merchant with a usable VK connection.
* ``recover_stalled_syncs``: a sync left "running" by a dead worker (its lock expired) or "queued" with a
  lost job is closed as failed and requested again, so the next run resumes where it stopped.
* ``debounced_sync_job``: the sync a burst of Evotor catalog events asked for.

Every skipped merchant is logged with its reason; the fan-out's result counts them.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from .. import locks
from ..extensions import db
from ..models import (
    ConnectionState,
    EvotorConnection,
    RunStatus,
    SyncConfig,
    SyncRun,
    User,
    UserStatus,
    VkConnection,
    utcnow,
)
from ..queues import DEFAULT, enqueue
from ..redis_conn import get_redis

log = logging.getLogger(__name__)

REFRESH_CATALOG = "refresh_catalog"
REFRESH_VK_CATALOG = "refresh_vk_catalog"
SYNC = "sync"  # the sync runner's lock: evosync:lock:sync:<user_id>
REFRESH_TIMEOUT = 1800  # 50,000 products page by page, with image look-ups
REFRESH_RETRIES = 3  # transient failures (Evotor 5xx, timeouts, a database hiccup) back off 10 s, 60 s, 300 s
QUEUED_RUN_GRACE = dt.timedelta(minutes=2)  # a queued run older than this whose job is gone was lost
PENDING_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


class TransientJobFailure(RuntimeError):
    """Raised by a job whose failure may pass (Evotor answered 5xx, timed out): RQ retries it with backoff."""


@dataclass
class FanOut:
    """What one fan-out did: merchants enqueued and merchants skipped (user id -> reason)."""

    kind: str
    enqueued: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def skip(self, user_id: int, reason: str) -> None:
        self.skipped[user_id] = reason
        log.info("fan-out skipped a merchant", extra={"kind": self.kind, "user_id": user_id, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "enqueued": list(self.enqueued),
            "skipped": {str(uid): reason for uid, reason in self.skipped.items()},
        }


# --------------------------------------------------------------------------------------------- reasons


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


def sync_blocker(user_id: int, *, respect_auto_sync: bool = True) -> str | None:
    """Why an automatic sync must not be requested for this merchant now, or None when it may."""
    user_status = db.session.scalar(sa.select(User.status).where(User.id == user_id))
    if user_status is None:
        return "no such account"
    reason = user_skip_reason(user_status)
    if reason:
        return reason
    if respect_auto_sync:
        auto_sync = db.session.scalar(sa.select(SyncConfig.auto_sync).where(SyncConfig.user_id == user_id))
        if auto_sync is False:  # no settings row: the default, on
            return "automatic sync is off"
    vk = db.session.execute(
        sa.select(
            VkConnection.state,
            VkConnection.access_token.is_not(None).label("has_token"),
            VkConnection.group_id,
            VkConnection.paused_until,
        ).where(VkConnection.user_id == user_id)
    ).first()
    if vk is None:
        return "VK is not connected"
    return vk_skip_reason(vk.state, bool(vk.has_token), vk.group_id, vk.paused_until, utcnow())


# --------------------------------------------------------------------------------------------- fan-out


def _queued_ttl() -> int:
    # A job queued longer than one interval was lost; the next fan-out may enqueue again.
    return int(current_app.config.get("CATALOG_REFRESH_INTERVAL_SECONDS") or 3600)


def _request(kind: str, job_func, user_id: int, title: str, queue: str) -> str | None:
    """Enqueue one merchant's job unless one of this kind is queued or running; the reason when not."""
    state = locks.busy(kind, user_id)
    if state is not None or not locks.mark_queued(kind, user_id, _queued_ttl()):
        return f"{kind.replace('_', ' ')} already {state or locks.QUEUED}"
    try:
        enqueue(job_func, user_id, queue=queue, title=title, timeout=REFRESH_TIMEOUT, retries=REFRESH_RETRIES)
    except Exception:
        locks.clear_queued(kind, user_id)
        raise
    return None


def request_catalog_refresh(user_id: int, queue: str = DEFAULT) -> str | None:
    """Queue a refresh (then sync) of one merchant; None when queued, else why not (already queued/running)."""
    return _request(
        REFRESH_CATALOG, scheduled_catalog_refresh_job, user_id, f"Evotor catalog refresh for user {user_id}", queue
    )


def request_vk_refresh(user_id: int, queue: str = DEFAULT) -> str | None:
    return _request(
        REFRESH_VK_CATALOG, scheduled_vk_refresh_job, user_id, f"VK catalog refresh for user {user_id}", queue
    )


def fanout_catalog_refresh() -> dict[str, Any]:
    """Periodic: one Evotor catalog refresh job per active merchant with a live, unpaused Evotor connection."""
    result = FanOut(REFRESH_CATALOG)
    now = utcnow()
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
    db.session.rollback()  # end the read transaction before the slow part
    for row in rows:
        reason = user_skip_reason(row.status) or evotor_skip_reason(
            row.state, bool(row.has_token), row.paused_until, now
        )
        reason = reason or request_catalog_refresh(row.id)
        if reason:
            result.skip(row.id, reason)
        else:
            result.enqueued.append(row.id)
    log.info(
        "fan-out done", extra={"kind": result.kind, "enqueued": len(result.enqueued), "skipped": len(result.skipped)}
    )
    return result.as_dict()


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


def vk_row_skip_reason(row, now) -> str | None:
    """Why a row of ``vk_merchant_rows`` gets no VK job now, or None."""
    return user_skip_reason(row.status) or vk_skip_reason(
        row.state, bool(row.has_token), row.group_id, row.paused_until, now
    )


def fanout_vk_refresh() -> dict[str, Any]:
    """Periodic: one VK catalog refresh job per active merchant with a live, unpaused VK connection."""
    result = FanOut(REFRESH_VK_CATALOG)
    now = utcnow()
    for row in vk_merchant_rows():
        reason = vk_row_skip_reason(row, now) or request_vk_refresh(row.id)
        if reason:
            result.skip(row.id, reason)
        else:
            result.enqueued.append(row.id)
    log.info(
        "fan-out done", extra={"kind": result.kind, "enqueued": len(result.enqueued), "skipped": len(result.skipped)}
    )
    return result.as_dict()


# --------------------------------------------------------------------------------------------- per merchant


def scheduled_catalog_refresh_job(user_id: int) -> dict[str, Any]:
    """Refresh one merchant's Evotor mirror under their lock, then ask for their VK sync (the chain)."""
    from ..services.evotor_catalog import FAILED, refresh_catalog

    locks.clear_queued(REFRESH_CATALOG, user_id)  # from now on a new request queues a follow-up
    with locks.merchant_lock(REFRESH_CATALOG, user_id) as held:
        if not held:
            log.info("catalog refresh coalesced: one is running", extra={"user_id": user_id})
            return {"user_id": user_id, "status": "coalesced"}
        summary = refresh_catalog(user_id)
    if summary.status == FAILED:
        raise TransientJobFailure(f"Evotor catalog refresh of user {user_id} failed: {summary.reason}")
    result = summary.as_dict()
    if summary.ok:
        result["sync"] = request_automatic_sync(user_id, "schedule")
    return result


def scheduled_vk_refresh_job(user_id: int) -> dict[str, Any]:
    """Refresh one merchant's VK mirror under their lock (VK trouble is recorded, never raised)."""
    from ..services.vk_catalog import refresh_vk_catalog

    locks.clear_queued(REFRESH_VK_CATALOG, user_id)
    with locks.merchant_lock(REFRESH_VK_CATALOG, user_id) as held:
        if not held:
            log.info("vk catalog refresh coalesced: one is running", extra={"user_id": user_id})
            return {"user_id": user_id, "status": "coalesced"}
        return refresh_vk_catalog(user_id).as_dict()


# --------------------------------------------------------------------------------------------- syncs


def run_abandoned(run: SyncRun, now: dt.datetime | None = None) -> bool:
    """A run whose worker is gone: "running" without its lock (past one lock TTL), or "queued" without its job."""
    now = now or utcnow()
    if run.status == RunStatus.RUNNING:
        started = run.started_at or run.created_at
        if started > now - dt.timedelta(seconds=locks.lock_ttl()):
            return False  # too young to tell
        return not locks.is_locked(SYNC, run.user_id)
    if run.status == RunStatus.QUEUED and run.created_at < now - QUEUED_RUN_GRACE:
        # No job id recorded: Redis was down when the run was asked for (the run row was kept, the enqueue
        # failed). enqueue_sync names the job after the run, so look under that name rather than wait forever.
        job_id = run.job_id or f"sync-{run.user_id}-{run.id}"
        try:
            status = Job.fetch(job_id, connection=get_redis()).get_status()
        except NoSuchJobError:
            return True
        return status not in PENDING_JOB_STATUSES
    return False


def _close_abandoned(run: SyncRun) -> None:
    run.status, run.finished_at = RunStatus.FAILED, utcnow()
    run.error = "The worker running this sync stopped; a new run has taken over."
    db.session.commit()
    log.warning("abandoned sync run closed", extra={"user_id": run.user_id, "run_id": run.id})


def request_automatic_sync(user_id: int, trigger: str, *, respect_auto_sync: bool = True) -> dict[str, Any]:
    """Ask for the merchant's sync unless something blocks it; joins a queued or running run (coalescing)."""
    from ..services.sync.requests import active_run, request_sync

    reason = sync_blocker(user_id, respect_auto_sync=respect_auto_sync)
    if reason:
        log.info("automatic sync skipped", extra={"user_id": user_id, "trigger": trigger, "reason": reason})
        return {"status": "skipped", "reason": reason}
    run = active_run(user_id)
    if run is not None and run_abandoned(run):
        _close_abandoned(run)
    run, created = request_sync(user_id, trigger=trigger)
    return {"status": "requested" if created else "joined", "run_id": run.id}


def recover_stalled_syncs() -> dict[str, Any]:
    """Periodic: close runs a dead worker left behind and request them again (the new run resumes)."""
    now = utcnow()
    runs = db.session.scalars(
        sa.select(SyncRun)
        .where(SyncRun.status.in_((RunStatus.RUNNING, RunStatus.QUEUED)), SyncRun.dry_run.is_(False))
        .order_by(SyncRun.id)
    ).all()
    recovered: dict[str, Any] = {}
    for run in runs:
        if not run_abandoned(run, now):
            continue
        trigger = run.trigger
        _close_abandoned(run)
        # A merchant's own "Sync now" is retried even with auto-sync off: they asked for it.
        recovered[str(run.user_id)] = request_automatic_sync(
            run.user_id, "retry", respect_auto_sync=trigger in ("schedule", "webhook")
        )
    if recovered:
        log.info("stalled syncs recovered", extra={"count": len(recovered)})
    return {"recovered": recovered}


def debounced_sync_job(user_id: int) -> dict[str, Any]:
    """The one sync a burst of catalog events asked for, SYNC_DEBOUNCE_SECONDS after its first event.

    A run that is already running may have read the mirror before these events: wait for it (schedule
    again) rather than join it. A queued run has not read anything yet: join it.
    """
    from ..services.evotor_events import clear_debounce, schedule_debounced_sync
    from ..services.sync.requests import active_run

    clear_debounce(user_id)  # events from now on need a sync of their own
    run = active_run(user_id)
    if run is not None and run.status == RunStatus.RUNNING and not run_abandoned(run):
        schedule_debounced_sync(user_id)
        log.info("debounced sync waits for the running one", extra={"user_id": user_id, "run_id": run.id})
        return {"status": "rescheduled", "run_id": run.id}
    return request_automatic_sync(user_id, "webhook")
