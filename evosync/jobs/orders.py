"""VK order jobs: the minute fan-out of polls, one merchant's poll, and the drain of queued callbacks."""

from __future__ import annotations

import logging
from typing import Any

from .. import locks
from ..models import User, VkOrderSettings, utcnow
from ..queues import DEFAULT, enqueue
from .fanout import FanOut, vk_merchant_rows, vk_row_skip_reason

log = logging.getLogger(__name__)

POLL_ORDERS = "poll_vk_orders"
POLL_INTERVAL = 60  # seconds: "every minute for merchants with orders on"


def fanout_vk_orders() -> dict[str, Any]:
    """Periodic: one order poll per active merchant with orders on and a usable VK connection; then drain any
    callback events a lost wake-up left queued."""
    from ..services.vk_orders import drain_callbacks

    result = FanOut(POLL_ORDERS)
    now = utcnow()
    rows = vk_merchant_rows(
        lambda query: query.join(VkOrderSettings, VkOrderSettings.user_id == User.id).where(
            VkOrderSettings.enabled.is_(True)
        )
    )
    for row in rows:
        reason = vk_row_skip_reason(row, now)
        if reason is None and (locks.busy(POLL_ORDERS, row.id) or not locks.mark_queued(POLL_ORDERS, row.id, 120)):
            reason = "an order poll is already queued or running"
        if reason:
            result.skip(row.id, reason)
            continue
        try:
            enqueue(poll_vk_orders_job, row.id, queue=DEFAULT, title=f"VK orders poll for user {row.id}", timeout=120)
        except Exception:
            locks.clear_queued(POLL_ORDERS, row.id)
            raise
        result.enqueued.append(row.id)
    out = result.as_dict()
    out["callbacks"] = drain_callbacks()
    return out


def poll_vk_orders_job(user_id: int) -> dict[str, Any]:
    """Read one merchant's VK orders (VK trouble is recorded for the page, never raised: the next minute retries)."""
    from ..services.vk_orders import poll_orders

    locks.clear_queued(POLL_ORDERS, user_id)
    with locks.merchant_lock(POLL_ORDERS, user_id, ttl=120) as held:
        if not held:
            return {"user_id": user_id, "status": "coalesced"}
        return poll_orders(user_id).as_dict()


def drain_vk_order_events_job() -> dict[str, int]:
    """Read from VK the orders that queued callbacks name, and store them."""
    from ..services.vk_orders import drain_callbacks

    return drain_callbacks()
