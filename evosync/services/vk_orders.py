"""VK orders: read them (the minute poll), store each once, ask for a sync when stock moves, change status.

Two paths bring an order, and both end in :func:`store_order`, keyed on (merchant, community, VK order id):

- **The poll** (:func:`poll_orders`, every minute for merchants with orders on): ``market.getGroupOrders`` newest
  first, up to POLL_PAGES pages, then ``market.getOrderItems`` for orders whose lines we do not have in full, and
  ``market.getOrderById`` for open orders we hold that fell off those pages (their status may have changed).
  VK down: nothing is stored, the error is kept for the page, and the next poll reads the same pages again.
- **The callback** (``services/vk_order_callbacks.py``): VK's ``market_order_new`` / ``market_order_edit``,
  recorded at once and then read from VK by a job, so an old state never overwrites a newer one.

A new order sends the merchant an email (and an SMS when they opted in) with a link to it, once: the alert is
sent by whichever path inserted the row (``services/vk_order_alerts.py``). A change that moves stock (a new open
order, a status crossing between open and closed, other quantities) asks for a VK sync, which publishes Evotor
quantity − held units.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext as _

from .. import locks
from ..clients.errors import VkApiError
from ..extensions import db
from ..models import SyncLink, VkConnection, VkOrder, VkOrderItem, VkOrderSettings, utcnow
from .connection_problems import NotConnectedError
from .connections import vk_client_for
from .sync import holds as rule
from .sync.order_holds import open_statuses, settle_holds
from .sync.starts import schedule_debounced_sync
from .vk_order_alerts import alert_new_order

log = logging.getLogger(__name__)

POLL_PAGES = 4  # x 50 newest orders per minute: a VK outage of a busy shop's day is caught up
PAGE_SIZE = 50  # market.getGroupOrders: count <= 50
RECHECK_OPEN = 20  # open orders no longer on the polled pages, re-read one by one per poll
ITEMS_PAGE = 50
NEW_EVENT, EDIT_EVENT, CONFIRMATION = "market_order_new", "market_order_edit", "confirmation"
ORDER_EVENTS = (NEW_EVENT, EDIT_EVENT)
QUEUED, APPLIED, FAILED, IGNORED = "queued", "applied", "failed", "ignored"
VIA_POLL, VIA_CALLBACK = "poll", "callback"
DRAIN_MARKER = "evosync:vk-orders:drain-wanted"
INGEST_LOCK = "vk_orders"  # locks kind: one reader of a merchant's orders at a time (poll or callbacks)
MAX_EVENT_ID = 128
MAX_VK_ID = 2**53  # ids beyond this are not VK's (and would not fit a BIGINT column)


def N_(text: str) -> str:
    return text


STATUS_WORDS = {
    rule.NEW: N_("New"),
    rule.AGREED: N_("Being agreed"),
    rule.ASSEMBLING: N_("Being assembled"),
    rule.DELIVERING: N_("Being delivered"),
    rule.DONE_STATUS: N_("Completed"),
    rule.CANCELLED: N_("Cancelled"),
    rule.RETURNED: N_("Returned"),
}


class OrdersError(Exception):
    """Something the merchant must hear about, in plain words (already translated)."""


@dataclass
class Stored:
    order: VkOrder
    created: bool = False
    stock_moved: bool = False


@dataclass
class PollSummary:
    user_id: int
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    orders_seen: int = 0
    created: int = 0
    updated: int = 0
    vk_requests: int = 0
    created_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------------------------- settings


def get_settings(user_id: int) -> VkOrderSettings | None:
    return db.session.scalar(sa.select(VkOrderSettings).where(VkOrderSettings.user_id == user_id))


def ensure_settings(user_id: int) -> VkOrderSettings:
    """The merchant's order settings, created (orders off, a fresh callback secret, default open statuses)."""
    row = get_settings(user_id)
    if row is None:
        row = VkOrderSettings(
            user_id=user_id,
            enabled=False,
            open_statuses=",".join(str(s) for s in sorted(rule.DEFAULT_OPEN_STATUSES)),
            callback_secret=secrets.token_urlsafe(24),
        )
        db.session.add(row)
        db.session.commit()
    return row


def save_settings(user_id: int, enabled: bool, open_statuses: Iterable[int], confirmation_code: str) -> None:
    row = ensure_settings(user_id)
    statuses = sorted({int(s) for s in open_statuses if int(s) in rule.KNOWN_STATUSES})
    row.enabled = bool(enabled)
    row.open_statuses = ",".join(str(s) for s in statuses) or ",".join(
        str(s) for s in sorted(rule.DEFAULT_OPEN_STATUSES)
    )
    row.confirmation_code = (confirmation_code or "").strip()[:64]
    db.session.commit()
    request_sync_after_orders(user_id)  # which statuses hold stock may have changed


def new_callback_secret(user_id: int) -> None:
    row = ensure_settings(user_id)
    row.callback_secret = secrets.token_urlsafe(24)
    db.session.commit()


# --------------------------------------------------------------------------------------------- VK shapes


def vk_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def vk_text(value: Any, limit: int | None = None) -> str:
    text = "" if value is None or isinstance(value, (dict, list)) else str(value)
    return text[:limit] if limit else text


def _kopecks(price: Any) -> int | None:
    """VK's price object: ``amount`` is a string in kopecks."""
    if isinstance(price, dict):
        return vk_int(price.get("amount"))
    return None


def order_fields(order: dict) -> dict[str, Any]:
    """The columns of vk_orders from VK's market_order object (VKCOM/vk-api-schema market/objects.json)."""
    date = vk_int(order.get("date"))
    return {
        "vk_user_id": vk_int(order.get("user_id")),
        "display_id": vk_text(order.get("display_order_id"), 64) or str(vk_int(order.get("id")) or ""),
        "status": vk_int(order.get("status")) or 0,
        "ordered_at": dt.datetime.fromtimestamp(date, dt.UTC).replace(tzinfo=None) if date else None,
        "items_count": vk_int(order.get("items_count")) or 0,
        "total_kopecks": _kopecks(order.get("total_price")),
        "comment": vk_text(order.get("comment")),
        "address": vk_text(order.get("address")),
        "merchant_comment": vk_text(order.get("merchant_comment")),
    }


def line_fields(item: dict) -> dict[str, Any] | None:
    """One market_order_item as a vk_order_items row (None when it names no item)."""
    inner = item.get("item") if isinstance(item.get("item"), dict) else {}
    item_id = vk_int(item.get("item_id")) or vk_int(inner.get("id"))
    if not item_id:
        return None
    return {
        "vk_item_id": item_id,
        "title": vk_text(item.get("title") or inner.get("title"), 255),
        "quantity": max(0, vk_int(item.get("quantity")) or 0),
        "price_kopecks": _kopecks(item.get("price")) or _kopecks(inner.get("price")),
    }


def _links(user_id: int, group_id: int, vk_item_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """VK item id -> (Evotor store, product) through our sync links."""
    ids = sorted(set(vk_item_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(SyncLink.vk_item_id, SyncLink.store_evotor_id, SyncLink.evotor_product_id).where(
            SyncLink.user_id == user_id,
            SyncLink.vk_item_id.in_(ids),
            sa.or_(SyncLink.group_id == group_id, SyncLink.group_id.is_(None)),
        )
    )
    return {int(r.vk_item_id): (r.store_evotor_id, r.evotor_product_id) for r in rows}


# --------------------------------------------------------------------------------------------- storing


def _find(user_id: int, group_id: int, vk_order_id: int) -> VkOrder | None:
    return db.session.scalar(
        sa.select(VkOrder).where(
            VkOrder.user_id == user_id, VkOrder.group_id == group_id, VkOrder.vk_order_id == vk_order_id
        )
    )


def _held_snapshot(order: VkOrder, statuses: frozenset[int]) -> dict[int, int]:
    if not rule.is_open(order.status, statuses):
        return {}
    return {line.vk_item_id: line.quantity for line in order.items if line.evotor_product_id}


def store_order(
    user_id: int,
    group_id: int,
    order: dict,
    items: list[dict] | None,
    via: str,
    *,
    only_if_new: bool = False,
) -> Stored | None:
    """Insert or update one order (and its lines when ``items`` is VK's full list); committed.

    ``only_if_new``: the order comes from a copy that may be older than what we hold (a callback's own body):
    it is stored only when we have no row for it yet. Returns None when nothing was stored.
    """
    vk_order_id = vk_int(order.get("id"))
    if not vk_order_id:
        raise ValueError("the order has no id")
    statuses = open_statuses(user_id)
    row = _find(user_id, group_id, vk_order_id)
    created = row is None
    if row is not None and only_if_new:
        return None
    if row is None:
        row = VkOrder(user_id=user_id, group_id=group_id, vk_order_id=vk_order_id, first_seen_via=via)
        db.session.add(row)
    before = {} if created else _held_snapshot(row, statuses)
    for name, value in order_fields(order).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
    if items is not None:  # VK's full list of the order's lines
        _store_lines(row, user_id, group_id, items)
        row.items_complete = True
    elif created:  # a callback's copy: its preview lines, completed by the poll
        _store_lines(row, user_id, group_id, [i for i in order.get("preview_order_items") or [] if isinstance(i, dict)])
        row.items_complete = False
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # the other path inserted it a moment ago: update that row instead
        db.session.rollback()
        return store_order(user_id, group_id, order, items, via, only_if_new=only_if_new)
    after = _held_snapshot(row, statuses)
    db.session.commit()
    stored = Stored(row, created, stock_moved=before != after)
    if created:
        log.info("vk order stored", extra={"user_id": user_id, "vk_order_id": vk_order_id, "via": via})
        alert_new_order(row)
    return stored


def _store_lines(row: VkOrder, user_id: int, group_id: int, items: list[dict]) -> None:
    wanted: dict[int, dict] = {}
    for item in items:
        fields = line_fields(item) if isinstance(item, dict) else None
        if fields is None:
            continue
        if fields["vk_item_id"] in wanted:  # one line per item: VK should not repeat one, but add if it does
            wanted[fields["vk_item_id"]]["quantity"] += fields["quantity"]
        else:
            wanted[fields["vk_item_id"]] = fields
    links = _links(user_id, group_id, wanted)
    existing = {line.vk_item_id: line for line in row.items}
    for item_id, line in list(existing.items()):
        if item_id not in wanted:
            row.items.remove(line)
    for item_id, fields in wanted.items():
        line = existing.get(item_id)
        if line is None:
            store_id, product_id = links.get(item_id, (None, None))
            line = VkOrderItem(user_id=user_id, store_evotor_id=store_id, evotor_product_id=product_id, **fields)
            row.items.append(line)
            continue
        for name, value in fields.items():
            if getattr(line, name) != value:
                setattr(line, name, value)
        if line.evotor_product_id is None and item_id in links:
            line.store_evotor_id, line.evotor_product_id = links[item_id]


def after_store(user_id: int, results: list[Stored]) -> None:
    """Settle the holds of what moved, and ask for the sync that publishes them."""
    moved = [s for s in results if s.stock_moved]
    if not moved:
        return
    settle_holds(user_id)
    request_sync_after_orders(user_id)


def request_sync_after_orders(user_id: int) -> str:
    """One VK sync soon (debounced with Evotor's events); a failure to ask is logged, the minute poll asks again."""
    try:
        return schedule_debounced_sync(user_id)
    except Exception:  # noqa: BLE001 - the order is stored; the next catalog refresh syncs anyway
        log.warning("could not ask for a sync after orders", extra={"user_id": user_id}, exc_info=True)
        return "failed"


# --------------------------------------------------------------------------------------------- the poll


def connection_of(user_id: int) -> VkConnection | None:
    return db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user_id))


def read_items(client, order: dict) -> list[dict]:
    items: list[dict] = []
    offset = 0
    while True:
        params = {"order_id": order["id"], "offset": offset, "count": ITEMS_PAGE}
        if vk_int(order.get("user_id")):
            params["user_id"] = order["user_id"]
        page = client.call("market.getOrderItems", **params)
        batch = page.get("items") if isinstance(page, dict) else None
        if not isinstance(batch, list):
            return items
        items += [i for i in batch if isinstance(i, dict)]
        offset += len(batch)
        if not batch or offset >= int(page.get("count") or 0):
            return items


def read_order(client, vk_order_id: int, vk_user_id: int | None) -> dict | None:
    params: dict[str, Any] = {"order_id": vk_order_id}
    if vk_user_id:
        params["user_id"] = vk_user_id
    answer = client.call("market.getOrderById", **params)
    order = answer.get("order") if isinstance(answer, dict) else None
    return order if isinstance(order, dict) and vk_int(order.get("id")) else None


def poll_orders(user_id: int) -> PollSummary:
    """Read the merchant's newest VK orders and store them; VK trouble is recorded on the settings, never raised."""
    summary = PollSummary(user_id)
    settings = get_settings(user_id)
    conn = connection_of(user_id)
    if settings is None or not settings.enabled:
        summary.status, summary.reason = "skipped", "orders are off"
        return summary
    if conn is None or not conn.group_id or not conn.access_token:
        summary.status, summary.reason = "skipped", "VK is not connected"
        return summary
    group_id = int(conn.group_id)
    with locks.merchant_lock(INGEST_LOCK, user_id, ttl=120, wait=30) as held:
        if not held:
            summary.status, summary.reason = "skipped", "another read of the orders is running"
            return summary
        results = _poll_locked(user_id, group_id, conn, summary)
    results = [r for r in results if r is not None]
    summary.orders_seen = len(results)
    summary.created = sum(1 for r in results if r.created)
    summary.updated = len(results) - summary.created
    summary.created_ids = [r.order.id for r in results if r.created]
    after_store(user_id, results)
    return summary


def _poll_locked(user_id: int, group_id: int, conn: VkConnection, summary: PollSummary) -> list[Stored]:
    """The poll itself, under the merchant's orders lock; what it stored (None where an order was not stored)."""
    settings = get_settings(user_id)
    settings.last_poll_at = utcnow()
    db.session.commit()
    results: list[Stored] = []
    try:
        client = vk_client_for(conn)
        before = client.requests_made
        seen: set[int] = set()
        for page in range(POLL_PAGES):
            answer = client.call("market.getGroupOrders", group_id=group_id, offset=page * PAGE_SIZE, count=PAGE_SIZE)
            orders = [o for o in (answer.get("items") or []) if isinstance(o, dict) and vk_int(o.get("id"))]
            for order in orders:
                seen.add(int(order["id"]))
                results.append(_poll_one(client, user_id, group_id, order))
            if len(orders) < PAGE_SIZE or (page + 1) * PAGE_SIZE >= int(answer.get("count") or 0):
                break
        for row in _open_orders_not_in(user_id, group_id, seen)[:RECHECK_OPEN]:
            order = read_order(client, row.vk_order_id, row.vk_user_id)
            if order is not None:
                results.append(_poll_one(client, user_id, group_id, order))
        summary.vk_requests = client.requests_made - before
    except (VkApiError, NotConnectedError) as exc:
        db.session.rollback()
        settings = get_settings(user_id)
        settings.last_poll_error = _poll_error_words(exc)
        db.session.commit()
        summary.status, summary.reason = "failed", type(exc).__name__
        log.warning("vk orders poll failed; the next poll catches up", extra={"user_id": user_id, "error": str(exc)})
    else:
        settings = get_settings(user_id)
        settings.last_poll_ok_at, settings.last_poll_error = utcnow(), None
        db.session.commit()
    return results


def _poll_one(client, user_id: int, group_id: int, order: dict) -> Stored:
    row = _find(user_id, group_id, int(order["id"]))
    items = None
    count = vk_int(order.get("items_count")) or 0
    if row is None or not row.items_complete or len(row.items) != count:
        items = read_items(client, order)
    return store_order(user_id, group_id, order, items, VIA_POLL)


def _open_orders_not_in(user_id: int, group_id: int, seen: set[int]) -> list[VkOrder]:
    statuses = open_statuses(user_id)
    rows = db.session.scalars(
        sa.select(VkOrder).where(VkOrder.user_id == user_id, VkOrder.group_id == group_id).order_by(VkOrder.id)
    )
    return [r for r in rows if r.vk_order_id not in seen and rule.is_open(r.status, statuses)]


def _poll_error_words(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    if code in (5,):
        return N_("VK did not accept EvoSync's access any more: reconnect VK on the Connections page.")
    if code in (15, 200, 203, 1409):
        return N_("VK refused to show this community's orders: check that the connected VK account manages it.")
    return N_("VK did not answer when EvoSync asked for your orders. EvoSync tries again every minute.")


# --------------------------------------------------------------------------------------------- changing status


def change_status(user_id: int, order_id: int, status: int) -> VkOrder:
    """Set the order's status in VK (market.editOrder), then here; OrdersError with plain words on failure."""
    order = db.session.scalar(sa.select(VkOrder).where(VkOrder.id == order_id, VkOrder.user_id == user_id))
    if order is None:
        raise OrdersError(_("This order was not found."))
    if status not in rule.KNOWN_STATUSES:
        raise OrdersError(_("Choose one of the statuses in the list."))
    if status == order.status:
        return order
    conn = connection_of(user_id)
    try:
        client = vk_client_for(conn)
        params: dict[str, Any] = {"order_id": order.vk_order_id, "status": status}
        if order.vk_user_id:
            params["user_id"] = order.vk_user_id
        client.call("market.editOrder", **params)
    except NotConnectedError:
        raise OrdersError(_("VK is not connected: connect it on the Connections page, then try again.")) from None
    except VkApiError as exc:
        log.warning("market.editOrder failed", extra={"user_id": user_id, "code": exc.code})
        if exc.code == 1456:
            raise OrdersError(_("VK does not allow this status for this order.")) from None
        raise OrdersError(
            _("VK did not change the status (VK said: %(why)s). Nothing was changed; please try again later.", why=exc)
        ) from None
    statuses = open_statuses(user_id)
    before = _held_snapshot(order, statuses)
    order.status = status
    after = _held_snapshot(order, statuses)
    db.session.commit()
    after_store(user_id, [Stored(order, False, stock_moved=before != after)])
    return order
