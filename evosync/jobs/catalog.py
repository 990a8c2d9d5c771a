"""Jobs: refresh one merchant's Evotor catalog mirror (the periodic fan-out lives with the schedule), and apply
the queued Evotor catalog events."""

from __future__ import annotations

import logging

from ..services.evotor_catalog import refresh_catalog
from ..services.evotor_events import drain_events

log = logging.getLogger(__name__)


def refresh_catalog_job(user_id: int) -> dict:
    """Refresh the user's catalog and return the summary as a dict (RQ keeps it as the job result)."""
    summary = refresh_catalog(user_id)
    log.info("refresh_catalog_job done", extra={"user_id": user_id, "status": summary.status})
    return summary.as_dict()


def drain_catalog_events_job() -> dict:
    """Apply every queued catalog event (woken by the webhook intake; swept every minute by the schedule)."""
    return drain_events().as_dict()


def enqueue_catalog_refresh(user_id: int):
    """Queue one refresh of the merchant's catalog (a second request while it waits joins it)."""
    from ..queues import HIGH, enqueue

    return enqueue(
        refresh_catalog_job,
        user_id,
        queue=HIGH,
        title=f"Refresh Evotor catalog of user {user_id}",
        job_id=f"refresh-catalog-{user_id}",
        timeout=3600,
    )
