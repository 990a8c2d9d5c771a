"""The one rule for a sync run whose worker is gone, and how such a run is closed.

Used by :func:`services.sync.starts.active_run` (a new request), :func:`~services.sync.starts.recover_stalled_syncs`
(every minute) and the runner (which holds the lock, so it knows every other running run is dead).
"""

from __future__ import annotations

import datetime as dt
import logging

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ... import locks
from ...extensions import db
from ...models import RunStatus, SyncRun, utcnow
from ...redis_conn import get_redis

log = logging.getLogger(__name__)

SYNC_LOCK = "sync"  # the merchant's sync lock (evosync/locks.py), held while a run runs; renewed until it ends
QUEUED_RUN_GRACE = dt.timedelta(minutes=2)  # a queued run older than this whose job is gone was lost
PENDING_JOB_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
ABANDONED_ERROR = "The worker running this sync stopped; a new run has taken over."


def sync_job_id(user_id: int, run_id: int) -> str:
    """The RQ job id of a run's sync job (starts.request_sync names it so)."""
    return f"sync-{user_id}-{run_id}"


def run_abandoned(run: SyncRun, now: dt.datetime | None = None, *, lock_holder: int | None = None) -> bool:
    """The one rule for a run whose worker is gone.

    "Running" without the merchant's sync lock: the runner takes the lock before it marks a run running and keeps
    it renewed, so only a dead worker's lock runs out. ``lock_holder``: the id of the run whose runner holds the
    lock (the runner itself asks), else the lock is looked up in Redis. "Queued" for longer than
    QUEUED_RUN_GRACE without its RQ job: the job was lost (or never made it: Redis was down when it was asked for).
    """
    now = now or utcnow()
    if run.status == RunStatus.RUNNING:
        if lock_holder is not None:
            return run.id != lock_holder
        return not locks.is_locked(SYNC_LOCK, run.user_id)
    if run.status == RunStatus.QUEUED and run.created_at < now - QUEUED_RUN_GRACE:
        # The job is named after the run (request_sync), so look under that name when no id was recorded.
        job_id = run.job_id or sync_job_id(run.user_id, run.id)
        try:
            status = Job.fetch(job_id, connection=get_redis()).get_status()
        except NoSuchJobError:
            return True
        return status not in PENDING_JOB_STATUSES
    return False


def close_abandoned(run: SyncRun) -> None:
    run.status, run.finished_at = RunStatus.FAILED, utcnow()
    run.error = ABANDONED_ERROR
    db.session.commit()
    log.warning("abandoned sync run closed", extra={"user_id": run.user_id, "run_id": run.id})
