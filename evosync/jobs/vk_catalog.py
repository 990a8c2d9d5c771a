"""Job of the VK mirror: refresh one merchant's VK catalog ("Refresh now" and the schedule alike)."""

from __future__ import annotations

import logging

from ..services.refreshes import finish_vk_refresh_request
from ..services.vk_catalog.refresh import refresh_vk_catalog

log = logging.getLogger(__name__)


def refresh_vk_catalog_job(user_id: int) -> dict:
    """Refresh the user's VK mirror (VK trouble is recorded, never raised); the summary dict is the job's result."""
    finish_vk_refresh_request(user_id)
    summary = refresh_vk_catalog(user_id)
    log.info("refresh_vk_catalog_job done", extra={"user_id": user_id, "status": summary.status})
    return summary.as_dict()
