"""Sync jobs: one merchant's sync run, the debounced sync after Evotor events, and the stalled-run check.

When a sync is asked for, and why not, is decided in ``services/sync/starts.py``; these jobs only run it.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import get_current_job

from ..services.sync.runner import run_sync
from ..services.sync.starts import (
    debounced_sync,
    recover_stalled_syncs,
    request_automatic_sync,
    request_sync,
    schedule_follow_up,
)

log = logging.getLogger(__name__)


def sync_job(user_id: int, run_id: int | None = None, trigger: str = "manual", confirm_removals: bool = False):
    job = get_current_job()
    log.info("sync job", extra={"user_id": user_id, "run_id": run_id, "job_id": job.id if job else None})
    run = run_sync(user_id, run_id=run_id, trigger=trigger, confirm_removals=confirm_removals, time_slice=True)
    result = {"run_id": run.id, "status": run.status}
    details = run.details or {}
    if details.get("continues"):  # its time slice ran out: the rest waits its turn behind others
        next_run, _created = request_sync(user_id, trigger=run.trigger or trigger)
        result["continued_by"] = next_run.id
    elif details.get("unfinished") and run.trigger != "retry":  # VK left doubt to the end: one follow-up
        result["follow_up"] = schedule_follow_up(user_id)
    return result


def debounced_sync_job(user_id: int) -> dict[str, Any]:
    """The one sync a burst of Evotor catalog events (or VK orders) asked for."""
    return debounced_sync(user_id)


def follow_up_sync_job(user_id: int) -> dict[str, Any]:
    """The one sync after a run that VK left unfinished (``retry``: it asks for no follow-up of its own)."""
    return request_automatic_sync(user_id, "retry", respect_auto_sync=False)


def recover_stalled_syncs_job() -> dict[str, Any]:
    """Periodic: close runs a dead worker left behind and request them again (the new run resumes)."""
    return recover_stalled_syncs()
