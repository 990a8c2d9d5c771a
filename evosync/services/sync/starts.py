"""When does a sync start: every way a sync is asked for, what blocks an automatic one, and dead runs.

* The merchant's "Sync now" (and "Retry", and confirming removals): :func:`request_sync`.
* After a good scheduled Evotor refresh: :func:`refresh_catalog_then_sync` (the job every Evotor refresh runs,
  asked for in ``services/refreshes.py``) calls :func:`request_automatic_sync`, trigger ``schedule``.
* After Evotor catalog events (``services/evotor_events/queue.py``) and VK orders: :func:`schedule_debounced_sync`;
  a burst of changes becomes one sync ``SYNC_DEBOUNCE_SECONDS`` after its first change (:func:`debounced_sync`).
* After a run VK left unfinished (its answers lost to the last pass): one :func:`schedule_follow_up`, trigger
  ``retry``, ``FOLLOW_UP_SECONDS`` later (``jobs/sync.py``).
* A run a dead worker left behind is closed and asked for again (:func:`recover_stalled_syncs`, every minute).

One queued-or-running run per merchant: a second request joins it. An automatic request is skipped while the
account is not active, auto-sync is off, or the VK connection is not usable (:func:`sync_blocker`). The one rule
for a dead run is :func:`run_abandoned`. The sync itself runs in ``jobs/sync.py`` -> ``runner.run_sync``.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ... import locks
from ...extensions import db
from ...models import RunStatus, SyncRun, User, VkConnection, utcnow
from ...queues import HIGH, enqueue, enqueue_in
from ...redis_conn import get_redis
from ..eligibility import user_skip_reason, vk_skip_reason
from ..evotor_catalog.refresh import refresh_catalog
from ..evotor_catalog.summary import ALL_IMAGES
from ..evotor_catalog.summary import FAILED as REFRESH_FAILED
from ..refreshes import REFRESH_CATALOG
from .dead_runs import close_abandoned, run_abandoned, sync_job_id
from .runner import start_run
from .settings import auto_sync_on

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
SYNC_JOB = "evosync.jobs.sync.sync_job"
DEBOUNCED_SYNC_JOB = "evosync.jobs.sync.debounced_sync_job"
FOLLOW_UP_SYNC_JOB = "evosync.jobs.sync.follow_up_sync_job"
FOLLOW_UP_SECONDS = 120  # after a run VK left unfinished: long enough for a passing VK trouble to pass
SYNC_TIMEOUT = 4 * 3600  # 10,000 first-time items take ~5 minutes at VK's pace; leave room for slow days

DEBOUNCE_KEY = "evosync:sync:debounce:{user_id}"
DEBOUNCE_MARGIN = 300  # the marker outlives the delay by this, so a lost job cannot block syncs for long


# --------------------------------------------------------------------------------------------- active and dead runs


def active_run(user_id: int) -> SyncRun | None:
    """The merchant's queued or running run, if any; a run left behind by a dead worker is closed first."""
    run = db.session.scalar(
        db.select(SyncRun)
        .where(SyncRun.user_id == user_id, SyncRun.status.in_(ACTIVE), SyncRun.dry_run.is_(False))
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    if run is not None and run_abandoned(run):
        close_abandoned(run)
        return None
    return run


def recover_stalled_syncs() -> dict[str, Any]:
    """Close the runs dead workers left behind and ask for each again (the new run resumes where it stopped)."""
    now = utcnow()
    runs = db.session.scalars(
        sa.select(SyncRun).where(SyncRun.status.in_(ACTIVE), SyncRun.dry_run.is_(False)).order_by(SyncRun.id)
    ).all()
    recovered: dict[str, Any] = {}
    for run in runs:
        if not run_abandoned(run, now):
            continue
        trigger = run.trigger
        close_abandoned(run)
        # A merchant's own "Sync now" is retried even with auto-sync off: they asked for it.
        recovered[str(run.user_id)] = request_automatic_sync(
            run.user_id, "retry", respect_auto_sync=trigger in ("schedule", "webhook")
        )
    if recovered:
        log.info("stalled syncs recovered", extra={"count": len(recovered)})
    return {"recovered": recovered}


# --------------------------------------------------------------------------------------------- requests


def request_sync(user_id: int, trigger: str = "manual", confirm_removals: bool = False) -> tuple[SyncRun, bool]:
    """Queue a sync unless one is queued or running; returns (run, created_now)."""
    run = active_run(user_id)
    if run is not None and not confirm_removals:
        log.info("sync request joins the active run", extra={"user_id": user_id, "run_id": run.id})
        return run, False
    run = start_run(user_id, "confirm" if confirm_removals else trigger)
    job = enqueue(
        SYNC_JOB,
        user_id,
        run.id,
        confirm_removals=confirm_removals,
        queue=HIGH,
        title=f"VK sync for user {user_id} (run {run.id})",
        timeout=SYNC_TIMEOUT,
        job_id=sync_job_id(user_id, run.id),
    )
    if job is not None:
        run.job_id = job.id
        db.session.commit()
    return run, True


def sync_blocker(user_id: int, *, respect_auto_sync: bool = True) -> str | None:
    """Why an automatic sync must not be requested for this merchant now, or None when it may."""
    user_status = db.session.scalar(sa.select(User.status).where(User.id == user_id))
    if user_status is None:
        return "no such account"
    reason = user_skip_reason(user_status)
    if reason:
        return reason
    if respect_auto_sync and not auto_sync_on(user_id):
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


def request_automatic_sync(user_id: int, trigger: str, *, respect_auto_sync: bool = True) -> dict[str, Any]:
    """Ask for the merchant's sync unless something blocks it; joins a queued or running run (coalescing)."""
    reason = sync_blocker(user_id, respect_auto_sync=respect_auto_sync)
    if reason:
        log.info("automatic sync skipped", extra={"user_id": user_id, "trigger": trigger, "reason": reason})
        return {"status": "skipped", "reason": reason}
    run, created = request_sync(user_id, trigger=trigger)
    return {"status": "requested" if created else "joined", "run_id": run.id}


# --------------------------------------------------------------------------------------------- after a refresh


def refresh_catalog_then_sync(user_id: int, *, sync_after: bool = True, all_images: bool = False) -> dict[str, Any]:
    """Refresh the merchant's Evotor mirror (under their lock: ``coalesced`` when another refresh holds it); then,
    when it went well, ask for their sync. ``all_images``: look up every image due, not the usual share."""
    locks.clear_queued(REFRESH_CATALOG, user_id)  # from now on a new request queues a follow-up
    summary = refresh_catalog(user_id, image_checks=ALL_IMAGES if all_images else None)
    result = summary.as_dict()
    if summary.ok and sync_after:
        result["sync"] = request_automatic_sync(user_id, "schedule")
    return result


def refresh_failed(result: dict[str, Any]) -> bool:
    """Whether a refresh result is a failure that may pass (Evotor 5xx, a timeout): its job is retried."""
    return result.get("status") == REFRESH_FAILED


# --------------------------------------------------------------------------------------------- debounce


def debounce_key(user_id: int) -> str:
    return DEBOUNCE_KEY.format(user_id=user_id)


def clear_debounce(user_id: int) -> None:
    get_redis().delete(debounce_key(user_id))


def schedule_debounced_sync(user_id: int) -> str:
    """Make sure one sync follows within SYNC_DEBOUNCE_SECONDS: ``scheduled``, ``pending`` or ``skipped: …``."""
    delay = int(current_app.config.get("SYNC_DEBOUNCE_SECONDS") or 0)
    redis = get_redis()
    key = debounce_key(user_id)
    if not redis.set(key, "1", nx=True, ex=delay + DEBOUNCE_MARGIN):
        return "pending"
    reason = sync_blocker(user_id)
    if reason:
        redis.delete(key)
        log.info("catalog event: no sync", extra={"user_id": user_id, "reason": reason})
        return f"skipped: {reason}"
    options = {"queue": HIGH, "title": f"VK sync after Evotor events, user {user_id}", "timeout": 300, "retries": 2}
    try:
        if delay > 0:
            enqueue_in(delay, DEBOUNCED_SYNC_JOB, user_id, **options)
        else:
            enqueue(DEBOUNCED_SYNC_JOB, user_id, **options)
    except Exception:
        redis.delete(key)
        raise
    return "scheduled"


def schedule_follow_up(user_id: int) -> str:
    """One sync ``FOLLOW_UP_SECONDS`` after a run VK left unfinished (answers lost to the end): the changes it
    could not confirm are done then, not at the next hourly sync. ``scheduled`` or ``skipped: …``."""
    reason = sync_blocker(user_id, respect_auto_sync=False)  # it finishes a sync already made, even a manual one
    if reason:
        return f"skipped: {reason}"
    options = {"queue": HIGH, "title": f"VK sync to finish an unfinished run, user {user_id}", "timeout": 300}
    enqueue_in(FOLLOW_UP_SECONDS, FOLLOW_UP_SYNC_JOB, user_id, **options)
    log.info("follow-up sync scheduled", extra={"user_id": user_id, "delay": FOLLOW_UP_SECONDS})
    return "scheduled"


def debounced_sync(user_id: int) -> dict[str, Any]:
    """The one sync a burst of catalog events asked for, SYNC_DEBOUNCE_SECONDS after its first event.

    A run that is already running may have read the mirror before these events: wait for it (schedule
    again) rather than join it. A queued run has not read anything yet: join it.
    """
    clear_debounce(user_id)  # events from now on need a sync of their own
    run = active_run(user_id)
    if run is not None and run.status == RunStatus.RUNNING:
        schedule_debounced_sync(user_id)
        log.info("debounced sync waits for the running one", extra={"user_id": user_id, "run_id": run.id})
        return {"status": "rescheduled", "run_id": run.id}
    return request_automatic_sync(user_id, "webhook")
