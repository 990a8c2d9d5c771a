"""The stock open VK orders hold, read from and written to the database (the arithmetic is services/sync/holds.py).

``settle_holds`` looks at the Evotor mirror's quantity of every product an open order line holds, applies the
release rule and stores each line's ``till_settled`` and ``evotor_seen`` with a compare-and-set, so two workers
looking at once cannot settle one drop twice. It returns the units still held per product: the plan's ``holds``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa

from ...extensions import db
from ...models import CachedProduct, VkOrder, VkOrderItem, VkOrderSettings, utcnow
from . import holds as rule

log = logging.getLogger(__name__)

Key = rule.Key
DONE_WINDOW = dt.timedelta(days=3)  # a completed order's line may still meet its sale at the till this long


def open_statuses(user_id: int) -> frozenset[int]:
    text = db.session.scalar(sa.select(VkOrderSettings.open_statuses).where(VkOrderSettings.user_id == user_id))
    return rule.parse_statuses(text)


def _lines(user_id: int, keys: set[Key] | None = None) -> dict[Key, list[tuple[VkOrderItem, str]]]:
    """The lines the release rule looks at, by product, oldest order first, each with its hold state: lines of open
    orders, of orders completed in the last DONE_WINDOW (they may still be rung up at the till), and of cancelled
    orders that still carry settled units (given back at the next look)."""
    statuses = open_statuses(user_id)
    since = utcnow() - DONE_WINDOW
    query = (
        sa.select(VkOrderItem, VkOrder.status, VkOrder.updated_at)
        .join(VkOrder, VkOrder.id == VkOrderItem.order_id)
        .where(VkOrderItem.user_id == user_id, VkOrderItem.evotor_product_id.is_not(None))
        .order_by(VkOrder.ordered_at, VkOrder.id, VkOrderItem.id)
    )
    lines: dict[Key, list[tuple[VkOrderItem, str]]] = defaultdict(list)
    for item, status, updated_at in db.session.execute(query):
        key = (item.store_evotor_id or "", item.evotor_product_id or "")
        if keys is not None and key not in keys:
            continue
        state = rule.state_of(status, statuses)
        if (
            state == rule.OPEN
            or (state == rule.DONE and updated_at >= since)
            or (state == rule.CANCELLED_STATE and item.till_settled)
        ):
            lines[key].append((item, state))
    return lines


def _quantities(user_id: int, keys: set[Key]) -> dict[Key, Decimal | None]:
    if not keys:
        return {}
    product_ids = sorted({pid for _sid, pid in keys})
    rows = db.session.execute(
        sa.select(CachedProduct.store_evotor_id, CachedProduct.evotor_id, CachedProduct.quantity).where(
            CachedProduct.user_id == user_id, CachedProduct.evotor_id.in_(product_ids)
        )
    )
    return {(r.store_evotor_id, r.evotor_id): r.quantity for r in rows if (r.store_evotor_id, r.evotor_id) in keys}


def settle_holds(user_id: int, keys: set[Key] | None = None) -> dict[Key, int]:
    """Apply the release rule to the merchant's open lines (committed); the units still held by product."""
    lines = _lines(user_id, keys)
    quantities = _quantities(user_id, set(lines))
    held: dict[Key, int] = {}
    changed = False
    for key, pairs in lines.items():
        items = [item for item, _state in pairs]
        before = [rule.Hold(i.quantity, i.till_settled, rule.to_decimal(i.evotor_seen), st) for i, st in pairs]
        after = rule.settle(before, quantities.get(key))
        for item, old, new in zip(items, before, after, strict=True):
            if new == old:
                continue
            result = db.session.execute(
                sa.update(VkOrderItem)
                .where(
                    VkOrderItem.id == item.id,
                    VkOrderItem.till_settled == old.settled,
                    VkOrderItem.evotor_seen.is_(None)
                    if old.seen is None
                    else VkOrderItem.evotor_seen == item.evotor_seen,
                )
                .values(till_settled=new.settled, evotor_seen=None if new.seen is None else str(new.seen))
                .execution_options(synchronize_session=False)
            )
            changed |= bool(result.rowcount)
            if result.rowcount:
                item.till_settled, item.evotor_seen = new.settled, None if new.seen is None else str(new.seen)
        units = rule.outstanding(after)
        if units:
            held[key] = units
    if changed:
        db.session.commit()
        log.info("order holds settled against the till", extra={"user_id": user_id})
    return held


def held_units(user_id: int) -> dict[Key, int]:
    """The plan's input: settle, then the units open VK orders still hold, by product. A failure here fails the
    sync (loudly) rather than publish stock that orders hold."""
    return settle_holds(user_id)
