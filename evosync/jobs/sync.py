"""The sync job: takes ids, runs one merchant's sync."""

from __future__ import annotations

import logging

from rq import get_current_job

from ..queues import HIGH, enqueue

log = logging.getLogger(__name__)

SYNC_TIMEOUT = 4 * 3600  # 10,000 first-time items take ~5 minutes at VK's pace; leave room for slow days


def sync_job(user_id: int, run_id: int | None = None, trigger: str = "manual", confirm_removals: bool = False):
    from ..services.sync.runner import run_sync

    job = get_current_job()
    log.info("sync job", extra={"user_id": user_id, "run_id": run_id, "job_id": job.id if job else None})
    run = run_sync(user_id, run_id=run_id, trigger=trigger, confirm_removals=confirm_removals)
    return {"run_id": run.id, "status": run.status}


def enqueue_sync(user_id: int, run_id: int, *, confirm_removals: bool = False, queue: str = HIGH):
    return enqueue(
        sync_job,
        user_id,
        run_id,
        confirm_removals=confirm_removals,
        queue=queue,
        title=f"VK sync for user {user_id} (run {run_id})",
        timeout=SYNC_TIMEOUT,
        job_id=f"sync-{user_id}-{run_id}",
    )
