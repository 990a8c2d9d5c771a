"""VK order jobs: the minute fan-out of polls, one merchant's poll, and the drain of queued callbacks."""

from __future__ import annotations

import logging
from typing import Any

from .. import locks
from ..models import User, VkOrderSettings
from ..queues import DEFAULT, enqueue_once
from ..services.eligibility import vk_merchant_rows, vk_row_skip_reason
from ..services.vk_order_callbacks import drain_callbacks
from ..services.vk_orders import poll_orders
from .fanout import fan_out

log = logging.getLogger(__name__)

POLL_ORDERS = "poll_vk_orders"
POLL_INTERVAL = 60  # seconds: "every minute for merchants with orders on"


def _request_poll(user_id: int) -> str | None:
    return (
        enqueue_once(
            POLL_ORDERS,
            user_id,
            poll_vk_orders_job,
            queued_ttl=120,
            queue=DEFAULT,
            title=f"VK orders poll for user {user_id}",
            timeout=120,
        )
        and "an order poll is already queued or running"
    )


def fanout_vk_orders() -> dict[str, Any]:
    """Periodic: one order poll per active merchant with orders on and a usable VK connection; then drain any
    callback events a lost wake-up left queued."""
    rows = vk_merchant_rows(
        lambda query: query.join(VkOrderSettings, VkOrderSettings.user_id == User.id).where(
            VkOrderSettings.enabled.is_(True)
        )
    )
    out = fan_out(POLL_ORDERS, rows, vk_row_skip_reason, _request_poll).as_dict()
    out["callbacks"] = drain_callbacks()
    return out


def poll_vk_orders_job(user_id: int) -> dict[str, Any]:
    """Read one merchant's VK orders (VK trouble is recorded for the page, never raised: the next minute retries)."""
    locks.clear_queued(POLL_ORDERS, user_id)
    with locks.merchant_lock(POLL_ORDERS, user_id, ttl=120) as held:
        if not held:
            return {"user_id": user_id, "status": "coalesced"}
        return poll_orders(user_id).as_dict()


def drain_vk_order_events_job() -> dict[str, int]:
    """Read from VK the orders that queued callbacks name, and store them."""
    return drain_callbacks()
