"""Jobs: refresh one merchant's VK catalog mirror, or every connected merchant's in turn."""

from __future__ import annotations

import logging

from ..services.vk_catalog import refresh_all_vk_catalogs, refresh_vk_catalog

log = logging.getLogger(__name__)


def refresh_vk_catalog_job(user_id: int) -> dict:
    """Refresh the user's VK mirror; the summary dict is the job's result (RQ keeps it)."""
    summary = refresh_vk_catalog(user_id)
    log.info("refresh_vk_catalog_job done", extra={"user_id": user_id, "status": summary.status})
    return summary.as_dict()


def refresh_all_vk_catalogs_job() -> dict:
    """Refresh every connected merchant; counts by status (one failing merchant never stops the rest)."""
    counts: dict[str, int] = {}
    for summary in refresh_all_vk_catalogs():
        counts[summary.status] = counts.get(summary.status, 0) + 1
    log.info("refresh_all_vk_catalogs_job done", extra=counts)
    return counts
