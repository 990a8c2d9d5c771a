"""Asking for a sync: one queued-or-running run per merchant; a second request joins it."""

from __future__ import annotations

import datetime as dt
import logging

from ...extensions import db
from ...models import RunStatus, SyncRun, utcnow

log = logging.getLogger(__name__)

ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)
STALE_AFTER = dt.timedelta(hours=3)  # a run "running" this long died with its worker


def active_run(user_id: int) -> SyncRun | None:
    """The merchant's queued or running run, if any; a run left behind by a dead worker is closed first."""
    run = db.session.scalar(
        db.select(SyncRun)
        .where(SyncRun.user_id == user_id, SyncRun.status.in_(ACTIVE), SyncRun.dry_run.is_(False))
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    if run is not None and run.status == RunStatus.RUNNING and not _lock_held(user_id):
        # Running, yet nobody holds the merchant's sync lock: its worker died (the lock expired).
        run.status, run.finished_at = RunStatus.FAILED, utcnow()
        run.error = "The worker running this sync stopped; a new run has taken over."
        db.session.commit()
        return None
    if run is not None and (run.started_at or run.created_at) < utcnow() - STALE_AFTER:
        run.status, run.finished_at = RunStatus.FAILED, utcnow()
        run.error = "The worker running this sync stopped; a new run has taken over."
        db.session.commit()
        return None
    return run


def _lock_held(user_id: int) -> bool:
    from ...redis_conn import get_redis
    from .runner import LOCK_KEY

    return bool(get_redis().exists(LOCK_KEY.format(user_id=user_id)))


def request_sync(user_id: int, trigger: str = "manual", confirm_removals: bool = False) -> tuple[SyncRun, bool]:
    """Queue a sync unless one is queued or running; returns (run, created_now)."""
    from ...jobs.sync import enqueue_sync

    run = active_run(user_id)
    if run is not None and not confirm_removals:
        log.info("sync request joins the active run", extra={"user_id": user_id, "run_id": run.id})
        return run, False
    from .runner import start_run

    run = start_run(user_id, "confirm" if confirm_removals else trigger)
    job = enqueue_sync(user_id, run.id, confirm_removals=confirm_removals)
    if job is not None:
        run.job_id = job.id
        db.session.commit()
    return run, True


def latest_runs(user_id: int, limit: int = 20) -> list[SyncRun]:
    return list(
        db.session.scalars(
            db.select(SyncRun).filter_by(user_id=user_id, dry_run=False).order_by(SyncRun.id.desc()).limit(limit)
        )
    )


def get_run(user_id: int, run_id: int) -> SyncRun | None:
    """One of the merchant's own runs; another merchant's id is None (the view answers 404)."""
    return db.session.scalar(db.select(SyncRun).filter_by(id=run_id, user_id=user_id))
