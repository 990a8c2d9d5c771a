"""Jobs of the Evotor mirror: refresh one merchant's catalog, and apply the queued Evotor catalog events."""

from __future__ import annotations

import logging

from rq import get_current_job

from ..services.evotor_events.queue import drain_events
from ..services.sync.starts import refresh_catalog_then_sync, refresh_failed

log = logging.getLogger(__name__)


class TransientJobFailure(RuntimeError):
    """Raised by a job whose failure may pass (Evotor answered 5xx, timed out): RQ retries it with backoff."""


def refresh_catalog_job(user_id: int, sync_after: bool = True, all_images: bool = False) -> dict:
    """Refresh one merchant's Evotor mirror under their lock, then (``sync_after``) ask for their VK sync.

    Every refresh comes here, queued by ``services.refreshes.request_catalog_refresh`` (and, with ``all_images``:
    every image due looked up, by a sync whose image look-ups Evotor stopped, services/sync/runner.py).
    """
    result = refresh_catalog_then_sync(user_id, sync_after=sync_after, all_images=all_images)
    log.info("refresh_catalog_job done", extra={"user_id": user_id, "status": result["status"]})
    if refresh_failed(result) and get_current_job() is not None:  # in a worker: RQ retries it (inline: no retry)
        raise TransientJobFailure(f"Evotor catalog refresh of user {user_id} failed: {result.get('reason')}")
    return result


def drain_catalog_events_job() -> dict:
    """Apply every queued catalog event (woken by the webhook intake; swept every minute by the schedule)."""
    return drain_events().as_dict()
