"""VK orders: read them (the minute poll and VK's Callback API), store each once, alert the merchant, change status.

Two paths bring an order, and both end in :func:`store_order`, keyed on (merchant, community, VK order id):

- **The poll** (:func:`poll_orders`, every minute for merchants with orders on): ``market.getGroupOrders`` newest
  first, up to POLL_PAGES pages, then ``market.getOrderItems`` for orders whose lines we do not have in full, and
  ``market.getOrderById`` for open orders we hold that fell off those pages (their status may have changed).
  VK down: nothing is stored, the error is kept for the page, and the next poll reads the same pages again.
- **The callback** (:func:`accept_callback`, POST /vk/callback): VK's ``market_order_new`` / ``market_order_edit``.
  The secret is checked in constant time (403 and nothing stored when wrong), the event is recorded under VK's
  unique ``event_id`` (a repeat changes nothing) and answered ``ok`` at once; :func:`drain_callbacks` (a job) then
  reads the order's *current* state from VK with ``market.getOrderById`` + ``market.getOrderItems``. So repeated
  or out-of-order deliveries cannot put an old state over a newer one. If VK cannot be read then, a new order is
  stored from the event's own copy (never an older copy over a stored order) and the poll completes it.

A new order sends the merchant an email (and an SMS when they opted in) with a link to it, once: the alert is
sent by whichever path inserted the row. A change that moves stock (a new open order, a status crossing between
open and closed, other quantities) asks for a VK sync, which publishes Evotor quantity − held units.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from ..clients.errors import VkApiError
from ..extensions import db
from ..models import SyncLink, User, VkConnection, VkOrder, VkOrderEvent, VkOrderItem, VkOrderSettings, utcnow
from ..redis_conn import get_redis
from .sync import holds as rule

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
INGEST_LOCK = "evosync:lock:vk_orders:{user_id}"
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


class CallbackRefused(Exception):
    """The callback is refused with ``status`` and a plain-text ``reason``; nothing was stored."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


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


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any, limit: int | None = None) -> str:
    text = "" if value is None or isinstance(value, (dict, list)) else str(value)
    return text[:limit] if limit else text


def _kopecks(price: Any) -> int | None:
    """VK's price object: ``amount`` is a string in kopecks."""
    if isinstance(price, dict):
        return _int(price.get("amount"))
    return None


def order_fields(order: dict) -> dict[str, Any]:
    """The columns of vk_orders from VK's market_order object (VKCOM/vk-api-schema market/objects.json)."""
    date = _int(order.get("date"))
    return {
        "vk_user_id": _int(order.get("user_id")),
        "display_id": _text(order.get("display_order_id"), 64) or str(_int(order.get("id")) or ""),
        "status": _int(order.get("status")) or 0,
        "ordered_at": dt.datetime.fromtimestamp(date, dt.UTC).replace(tzinfo=None) if date else None,
        "items_count": _int(order.get("items_count")) or 0,
        "total_kopecks": _kopecks(order.get("total_price")),
        "comment": _text(order.get("comment")),
        "address": _text(order.get("address")),
        "merchant_comment": _text(order.get("merchant_comment")),
    }


def line_fields(item: dict) -> dict[str, Any] | None:
    """One market_order_item as a vk_order_items row (None when it names no item)."""
    inner = item.get("item") if isinstance(item.get("item"), dict) else {}
    item_id = _int(item.get("item_id")) or _int(inner.get("id"))
    if not item_id:
        return None
    return {
        "vk_item_id": item_id,
        "title": _text(item.get("title") or inner.get("title"), 255),
        "quantity": max(0, _int(item.get("quantity")) or 0),
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
    vk_order_id = _int(order.get("id"))
    if not vk_order_id:
        raise ValueError("the order has no id")
    from .vk_order_holds import open_statuses

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
        _alert_new_order(row)
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


def _after_store(user_id: int, results: list[Stored]) -> None:
    """Settle the holds of what moved, and ask for the sync that publishes them."""
    moved = [s for s in results if s.stock_moved]
    if not moved:
        return
    from .vk_order_holds import settle_holds

    settle_holds(user_id)
    request_sync_after_orders(user_id)


def request_sync_after_orders(user_id: int) -> str:
    """One VK sync soon (debounced with Evotor's events); a failure to ask is logged, the minute poll asks again."""
    from .sync.starts import schedule_debounced_sync

    try:
        return schedule_debounced_sync(user_id)
    except Exception:  # noqa: BLE001 - the order is stored; the next catalog refresh syncs anyway
        log.warning("could not ask for a sync after orders", extra={"user_id": user_id}, exc_info=True)
        return "failed"


# --------------------------------------------------------------------------------------------- alerts


def order_link(order: VkOrder) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + f"/orders/{order.id}"


def _alert_new_order(order: VkOrder) -> None:
    """Email, plus SMS with the opt-in; once per order (``alerted_at``). A failure is logged, never raised."""
    from . import notifications
    from .incidents.alerts import _locale, wants_sms

    user = db.session.get(User, order.user_id)
    if user is None or order.alerted_at is not None:
        return
    link = order_link(order)
    total = format_rubles(order.total_kopecks)
    try:
        with force_locale(_locale(user)):
            subject = _("New VK order %(number)s", number=order.display_id)
            notifications.send_templated_email(
                user.email, "order_new", subject, order=order, total=total, link=link, lines=list(order.items)
            )
            if wants_sms(user):
                notifications.send_sms(
                    user.phone, _("EvoSync: new VK order %(number)s: %(link)s", number=order.display_id, link=link)
                )
        order.alerted_at = utcnow()
        db.session.commit()
    except Exception:  # noqa: BLE001 - the order is stored and shown; the alert is the only loss
        db.session.rollback()
        log.warning("new order alert not queued", extra={"user_id": order.user_id, "order": order.id}, exc_info=True)


def format_rubles(kopecks: int | None) -> str:
    if kopecks is None:
        return ""
    rubles, rest = divmod(int(kopecks), 100)
    return f"{rubles:,}".replace(",", "\u00a0") + f",{rest:02d} ₽"


# --------------------------------------------------------------------------------------------- the poll


def _connection(user_id: int) -> VkConnection | None:
    return db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user_id))


def _read_items(client, order: dict) -> list[dict]:
    items: list[dict] = []
    offset = 0
    while True:
        params = {"order_id": order["id"], "offset": offset, "count": ITEMS_PAGE}
        if _int(order.get("user_id")):
            params["user_id"] = order["user_id"]
        page = client.call("market.getOrderItems", **params)
        batch = page.get("items") if isinstance(page, dict) else None
        if not isinstance(batch, list):
            return items
        items += [i for i in batch if isinstance(i, dict)]
        offset += len(batch)
        if not batch or offset >= int(page.get("count") or 0):
            return items


def _read_order(client, vk_order_id: int, vk_user_id: int | None) -> dict | None:
    params: dict[str, Any] = {"order_id": vk_order_id}
    if vk_user_id:
        params["user_id"] = vk_user_id
    answer = client.call("market.getOrderById", **params)
    order = answer.get("order") if isinstance(answer, dict) else None
    return order if isinstance(order, dict) and _int(order.get("id")) else None


def poll_orders(user_id: int) -> PollSummary:
    """Read the merchant's newest VK orders and store them; VK trouble is recorded on the settings, never raised."""
    from .connections import NotConnectedError, vk_client_for

    summary = PollSummary(user_id)
    settings = get_settings(user_id)
    conn = _connection(user_id)
    if settings is None or not settings.enabled:
        summary.status, summary.reason = "skipped", "orders are off"
        return summary
    if conn is None or not conn.group_id or not conn.access_token:
        summary.status, summary.reason = "skipped", "VK is not connected"
        return summary
    group_id = int(conn.group_id)
    lock = get_redis().lock(INGEST_LOCK.format(user_id=user_id), timeout=120, blocking_timeout=30)
    if not lock.acquire():
        summary.status, summary.reason = "skipped", "another read of the orders is running"
        return summary
    settings.last_poll_at = utcnow()
    db.session.commit()
    results: list[Stored] = []
    try:
        client = vk_client_for(conn)
        before = client.requests_made
        seen: set[int] = set()
        for page in range(POLL_PAGES):
            answer = client.call("market.getGroupOrders", group_id=group_id, offset=page * PAGE_SIZE, count=PAGE_SIZE)
            orders = [o for o in (answer.get("items") or []) if isinstance(o, dict) and _int(o.get("id"))]
            for order in orders:
                seen.add(int(order["id"]))
                results.append(_poll_one(client, user_id, group_id, order))
            if len(orders) < PAGE_SIZE or (page + 1) * PAGE_SIZE >= int(answer.get("count") or 0):
                break
        for row in _open_orders_not_in(user_id, group_id, seen)[:RECHECK_OPEN]:
            order = _read_order(client, row.vk_order_id, row.vk_user_id)
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
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired: harmless, the rows are committed
            log.warning("vk orders lock was gone at release", extra={"user_id": user_id})
    results = [r for r in results if r is not None]
    summary.orders_seen = len(results)
    summary.created = sum(1 for r in results if r.created)
    summary.updated = len(results) - summary.created
    summary.created_ids = [r.order.id for r in results if r.created]
    _after_store(user_id, results)
    return summary


def _poll_one(client, user_id: int, group_id: int, order: dict) -> Stored:
    row = _find(user_id, group_id, int(order["id"]))
    items = None
    count = _int(order.get("items_count")) or 0
    if row is None or not row.items_complete or len(row.items) != count:
        items = _read_items(client, order)
    return store_order(user_id, group_id, order, items, VIA_POLL)


def _open_orders_not_in(user_id: int, group_id: int, seen: set[int]) -> list[VkOrder]:
    from .vk_order_holds import open_statuses

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


# --------------------------------------------------------------------------------------------- callbacks


@dataclass(frozen=True)
class _Candidate:
    user_id: int
    enabled: bool
    secret: str
    confirmation: str


def _candidates(group_id: int) -> list[_Candidate]:
    rows = db.session.execute(
        sa.select(VkOrderSettings)
        .join(VkConnection, VkConnection.user_id == VkOrderSettings.user_id)
        .where(VkConnection.group_id == group_id)
        .order_by(VkOrderSettings.user_id)
    ).scalars()
    return [_Candidate(r.user_id, r.enabled, r.callback_secret or "", r.confirmation_code or "") for r in rows]


def _matching(candidates: list[_Candidate], given: str) -> _Candidate | None:
    """The merchant whose secret ``given`` is, compared in constant time against every one (no early exit)."""
    found = None
    given_bytes = given.encode("utf-8", "replace")
    for candidate in candidates:
        expected = candidate.secret.encode("utf-8", "replace")
        if hmac.compare_digest(expected, given_bytes) and candidate.secret:
            found = found or candidate
    return found


def accept_callback(body: Any, raw: bytes) -> tuple[str, bool]:
    """Answer one Callback API request: (the text VK wants, whether an event was queued). CallbackRefused when
    the request is refused (nothing is stored then)."""
    if not isinstance(body, dict):
        raise CallbackRefused(400, "The body must be a JSON object")
    kind = body.get("type")
    group_id = _int(body.get("group_id"))
    if not isinstance(kind, str) or not kind:
        raise CallbackRefused(400, "Field 'type' is required")
    if not group_id or not 0 < group_id < MAX_VK_ID:
        raise CallbackRefused(400, "Field 'group_id' must be a community id")
    candidates = _candidates(group_id)
    if kind == CONFIRMATION:
        # VK's handshake carries no secret; the answer is the code VK showed the merchant (public by design).
        codes = [c.confirmation for c in candidates if c.confirmation]
        if not codes:
            raise CallbackRefused(403, "This community has no confirmation code in EvoSync (orders settings)")
        return codes[0], False
    secret = body.get("secret")
    match = _matching(candidates, secret if isinstance(secret, str) else "")
    if match is None:
        raise CallbackRefused(403, "Unknown community or wrong secret key")
    if kind not in ORDER_EVENTS or not match.enabled:
        return "ok", False  # events EvoSync does not use: acknowledged, so VK stops sending them again
    event_id = _text(body.get("event_id")).strip()
    if not event_id:
        raise CallbackRefused(400, "Field 'event_id' is required")
    if len(event_id) > MAX_EVENT_ID:
        raise CallbackRefused(400, f"Field 'event_id' is longer than {MAX_EVENT_ID} characters")
    order = body.get("object")
    if not isinstance(order, dict) or not 0 < (_int(order.get("id")) or 0) < MAX_VK_ID:
        raise CallbackRefused(400, "Field 'object.id' (the order id) is required")
    try:
        db.session.execute(
            VkOrderEvent.__table__.insert().values(
                event_id=event_id,
                user_id=match.user_id,
                group_id=group_id,
                event_type=kind,
                vk_order_id=_int(order.get("id")),
                status=QUEUED,
                body=json.dumps(_without_key(body), ensure_ascii=False),
                received_at=utcnow(),
            )
        )
        db.session.execute(
            sa.update(VkOrderSettings).where(VkOrderSettings.user_id == match.user_id).values(last_callback_at=utcnow())
        )
        db.session.commit()
    except sa.exc.IntegrityError:  # delivered before: nothing changes
        db.session.rollback()
        return "ok", False
    wake_drainer()
    return "ok", True


def _without_key(body: dict) -> dict:
    """The event as kept for the worker: everything but the secret key it carried."""
    kept = dict(body)
    kept.pop("secret", None)
    return kept


def wake_drainer() -> None:
    """A drain job soon (one for a burst); if Redis is down the minute poll's sweep drains the events."""
    from ..jobs.orders import drain_vk_order_events_job
    from ..queues import HIGH, enqueue

    try:
        if not current_app.config.get("RUN_JOBS_INLINE") and not get_redis().set(DRAIN_MARKER, "1", nx=True, ex=120):
            return
        enqueue(drain_vk_order_events_job, queue=HIGH, title="Read VK orders named by callbacks", retries=2)
    except Exception:  # noqa: BLE001 - recorded; the sweep takes it
        log.warning("could not wake the VK order event drainer", exc_info=True)


def drain_callbacks(limit: int = 200) -> dict[str, int]:
    """Read from VK the orders queued callbacks name (oldest first) and store them; counts by outcome."""
    try:
        get_redis().delete(DRAIN_MARKER)
    except Exception:  # noqa: BLE001
        log.warning("could not clear the drain marker", exc_info=True)
    counts: dict[str, int] = {}
    events = db.session.scalars(
        sa.select(VkOrderEvent).where(VkOrderEvent.status == QUEUED).order_by(VkOrderEvent.id).limit(limit)
    ).all()
    by_user: dict[int, list[VkOrderEvent]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event)
    for user_id, user_events in by_user.items():
        for status in _drain_user(user_id, user_events):
            counts[status] = counts.get(status, 0) + 1
    return counts


def _drain_user(user_id: int, events: list[VkOrderEvent]) -> list[str]:
    from .connections import NotConnectedError, vk_client_for

    outcomes: list[str] = []
    results: list[Stored] = []
    conn = _connection(user_id)
    lock = get_redis().lock(INGEST_LOCK.format(user_id=user_id), timeout=120, blocking_timeout=30)
    if not lock.acquire():
        return outcomes  # stay queued: the next wake-up or sweep takes them
    try:
        client = vk_client_for(conn) if conn is not None and conn.group_id == events[0].group_id else None
        done: dict[int, Stored | None] = {}  # one read per order however many events name it
        for event in events:
            body = json.loads(event.body or "{}")
            order_copy = body.get("object") if isinstance(body.get("object"), dict) else {}
            vk_order_id = int(event.vk_order_id or 0)
            status, error = APPLIED, None
            if client is None:
                status, error = IGNORED, "the community is not this merchant's connected one any more"
            elif vk_order_id not in done:
                try:
                    order = _read_order(client, vk_order_id, _int(order_copy.get("user_id")))
                    if order is None:
                        raise VkApiError(1436, "Order not found")
                    items = _read_items(client, order)
                    done[vk_order_id] = store_order(user_id, event.group_id, order, items, VIA_CALLBACK)
                except (VkApiError, NotConnectedError) as exc:
                    db.session.rollback()
                    # VK cannot be read now: a new order is kept from the event's own copy; the poll completes it.
                    stored = store_order(user_id, event.group_id, order_copy, None, VIA_CALLBACK, only_if_new=True)
                    done[vk_order_id] = stored
                    status, error = FAILED, f"VK could not be read ({exc}); the minute poll catches up"
                    log.warning("vk order callback: VK not readable", extra={"user_id": user_id, "error": str(exc)})
            if done.get(vk_order_id) is not None:
                results.append(done[vk_order_id])
            event.status, event.error, event.processed_at = status, error, utcnow()
            if status == APPLIED:
                event.body = None
            db.session.commit()
            outcomes.append(status)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001
            log.warning("vk orders lock was gone at release", extra={"user_id": user_id})
    _after_store(user_id, results)
    return outcomes


# --------------------------------------------------------------------------------------------- changing status


def change_status(user_id: int, order_id: int, status: int) -> VkOrder:
    """Set the order's status in VK (market.editOrder), then here; OrdersError with plain words on failure."""
    from .connections import NotConnectedError, vk_client_for

    order = db.session.scalar(sa.select(VkOrder).where(VkOrder.id == order_id, VkOrder.user_id == user_id))
    if order is None:
        raise OrdersError(_("This order was not found."))
    if status not in rule.KNOWN_STATUSES:
        raise OrdersError(_("Choose one of the statuses in the list."))
    if status == order.status:
        return order
    conn = _connection(user_id)
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
    from .vk_order_holds import open_statuses

    statuses = open_statuses(user_id)
    before = _held_snapshot(order, statuses)
    order.status = status
    after = _held_snapshot(order, statuses)
    db.session.commit()
    _after_store(user_id, [Stored(order, False, stock_moved=before != after)])
    return order
