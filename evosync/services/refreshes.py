"""The one way into a mirror refresh: asking for one, coalesced per merchant.

"Refresh now", connecting Evotor (a pasted token or Evotor's partner webhooks) and the schedule all ask with
:func:`request_catalog_refresh`; the job it names (``jobs/catalog.py``) runs
``services.sync.starts.refresh_catalog_then_sync``: ``evotor_catalog.refresh.refresh_catalog`` holds the merchant's
``refresh_catalog`` lock, so two refreshes of one merchant never run at once, and after a good scheduled refresh
the VK sync is asked for. The VK
mirror the same way: :func:`request_vk_refresh` -> ``jobs/vk_catalog.py`` -> ``services/vk_catalog`` (whose
refresh takes its own lock, since every sync pass reads VK through it too).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from .. import locks
from ..queues import DEFAULT, enqueue_once

log = logging.getLogger(__name__)

REFRESH_CATALOG = "refresh_catalog"  # locks kind of the Evotor mirror refresh
REFRESH_VK_CATALOG = "refresh_vk_catalog"  # locks kind of a queued VK mirror refresh
CATALOG_JOB = "evosync.jobs.catalog.refresh_catalog_job"
VK_CATALOG_JOB = "evosync.jobs.vk_catalog.refresh_vk_catalog_job"
REFRESH_TIMEOUT = 3600  # 50,000 products page by page, with image look-ups
REFRESH_RETRIES = 3  # transient failures (Evotor 5xx, timeouts, a database hiccup) back off 10 s, 60 s, 300 s


def request_catalog_refresh(user_id: int, *, queue: str = DEFAULT, sync_after: bool = True) -> str | None:
    """Queue a refresh of the merchant's Evotor mirror (then, with ``sync_after``, their automatic sync).

    None when queued, else why not (one is already queued or running: it covers this request).
    """
    options: dict[str, Any] = {} if sync_after else {"sync_after": False}
    return _request(REFRESH_CATALOG, CATALOG_JOB, user_id, queue, f"Evotor catalog refresh for user {user_id}", options)


def request_vk_refresh(user_id: int, *, queue: str = DEFAULT) -> str | None:
    """Queue a refresh of the merchant's VK mirror; None when queued, else why not."""
    return _request(REFRESH_VK_CATALOG, VK_CATALOG_JOB, user_id, queue, f"VK catalog refresh for user {user_id}", {})


def _request(kind: str, job: str, user_id: int, queue: str, title: str, options: dict[str, Any]) -> str | None:
    # A job queued longer than one refresh interval was lost: the next request may queue again.
    queued_ttl = int(current_app.config.get("CATALOG_REFRESH_INTERVAL_SECONDS") or 3600)
    return enqueue_once(
        kind,
        user_id,
        job,
        queued_ttl=queued_ttl,
        queue=queue,
        title=title,
        timeout=REFRESH_TIMEOUT,
        retries=REFRESH_RETRIES,
        **options,
    )


def finish_vk_refresh_request(user_id: int) -> None:
    """The queued VK refresh has started: a new request may queue the next one."""
    locks.clear_queued(REFRESH_VK_CATALOG, user_id)
