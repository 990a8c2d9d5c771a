"""VK emulator, orders: shoppers' orders kept per community, the order methods, and Callback API deliveries.

Methods (VKCOM/vk-api-schema market/methods.json): ``market.getGroupOrders(group_id, offset, count<=50)`` ->
``{count, items}`` newest first; ``market.getOrderById(user_id?, order_id, extended?)`` -> ``{order}`` or error
1436; ``market.getOrderItems(user_id?, order_id, offset, count)`` -> ``{count, items}``;
``market.editOrder(user_id, order_id, status?, ...)`` -> 1, error 1456 for a status outside 0..6.

Callbacks: a test or the demo registers a server (URL, secret key, confirmation code) per community. Before its
first event the emulator sends ``{"type": "confirmation", "group_id"}`` and expects the code back, as VK does;
then each order event is POSTed as ``{"type", "object": <market_order>, "group_id", "event_id", "v", "secret"}``.
Deliveries run outside the emulator's lock (in a thread, or through ``sender`` when a test sets one).

Readings (readings.py): ``order_callbacks`` "once" (each event once, in order) or "repeated_out_of_order" (each
event twice, then the previous event of the community once more, late); ``vk_decrements_stock`` (VK lowers an
item's stock_amount by the ordered quantity itself, and raises it again on cancellation) or not.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from flask import Blueprint, jsonify, request

from evosync.sandbox.vk_model import VkApiError, _invalid, format_price

if TYPE_CHECKING:
    from evosync.sandbox.vk import VkState

log = logging.getLogger(__name__)

STATUSES = range(7)  # 0 new ... 4 done, 5 cancelled, 6 returned (dev.vk.com market.editOrder)
CANCELLED = 5
ORDER_METHODS = ("market.getGroupOrders", "market.getOrderById", "market.getOrderItems", "market.editOrder")
ERRORS = {1436: "Order not found", 1456: "Order status is invalid"}


@dataclass
class _Line:
    item_id: int
    owner_id: int
    title: str
    price_kopecks: int
    quantity: int


@dataclass
class _Order:
    id: int
    group_id: int
    user_id: int
    date: int
    status: int = 0
    comment: str = ""
    address: str = ""
    merchant_comment: str = ""
    track_number: str = ""
    lines: list[_Line] = field(default_factory=list)


@dataclass
class _Server:
    url: str
    secret: str
    confirmation: str
    confirmed: bool | None = None  # None: not tried yet


class VkOrders:
    """The orders part of one VkState; uses its lock and counters."""

    def __init__(self, state: VkState):
        self.state = state
        self.sender: Callable[[str, dict], Any] | None = None  # tests: deliver synchronously (url, body)
        self.reset()

    def reset(self) -> None:
        self._orders: dict[int, _Order] = {}
        self._servers: dict[int, _Server] = {}
        self._last_event: dict[int, dict] = {}
        self._event_ids = itertools.count(1)
        self._next_id = 1
        self.deliveries: list[dict] = []  # what was sent: {"url", "body", "answer"}
        self.pending: list[tuple[int, dict]] = []
        self.sender = None

    # ------------------------------------------------------------------ setup and shopper actions
    def set_callback_server(self, group_id: int, url: str, secret: str, confirmation: str = "") -> str:
        """Register (or replace) the community's callback server; returns the confirmation code."""
        with self.state.lock:
            code = confirmation or f"conf{group_id:x}"
            self._servers[group_id] = _Server(url, secret, code)
            return code

    def place_order(
        self,
        group_id: int,
        items: list[tuple[int, int]],
        user_id: int = 20_000_001,
        comment: str = "",
        address: str = "",
    ) -> dict:
        """A shopper orders ``(item_id, quantity)`` pairs; returns the order as VK shows it. Sends market_order_new."""
        with self.state.lock:
            community = self.state._communities.get(group_id)
            if community is None:
                raise ValueError(f"no community {group_id}")
            lines = []
            for item_id, quantity in items:
                item = self.state._items.get(int(item_id))
                if item is None or item.owner_id != -group_id or item.removed:
                    raise ValueError(f"no item {item_id} in community {group_id}")
                if quantity < 1:
                    raise ValueError("quantity must be at least 1")
                lines.append(_Line(item.id, item.owner_id, item.title, item.price_kopecks, int(quantity)))
                if self.state.readings.vk_decrements_stock and item.stock_amount is not None:
                    item.stock_amount = max(0, item.stock_amount - int(quantity))
            order = _Order(self._next_id, group_id, user_id, int(time.time()), comment=comment, address=address)
            order.lines = lines
            self._next_id += 1
            self._orders[order.id] = order
            body = self._order_json(order)
            event = self._event(group_id, "market_order_new", body)
        self._deliver(group_id, event)
        return body

    def set_status_as_vk(self, order_id: int, status: int) -> None:
        """The merchant changes the status in VK's own interface (not through the API); sends market_order_edit."""
        with self.state.lock:
            order = self._orders[order_id]
            self._set_status(order, status)
            event = self._event(order.group_id, "market_order_edit", self._order_json(order))
        self._deliver(order.group_id, event)

    def orders(self, group_id: int) -> list[dict]:
        with self.state.lock:
            return [self._order_json(o) for o in self._orders.values() if o.group_id == group_id]

    # ------------------------------------------------------------------ API methods
    def handlers(self) -> dict[str, Callable]:
        return {
            "market.getGroupOrders": self._get_group_orders,
            "market.getOrderById": self._get_order_by_id,
            "market.getOrderItems": self._get_order_items,
            "market.editOrder": self._edit_order,
        }

    def _order_for(self, params: dict[str, str], ctx) -> _Order:
        order = self._orders.get(self.state._int(params, "order_id", required=True))
        if order is None:
            raise self._error(1436)
        user_id = params.get("user_id", "").strip()
        if user_id and user_id != "0" and int(user_id) != order.user_id:
            raise self._error(1436)
        self.state._community_checked(order.group_id, ctx, write=True)  # the community's admins only
        return order

    def _error(self, code: int):
        return VkApiError(code, ERRORS.get(code))

    def _get_group_orders(self, params: dict[str, str], ctx) -> dict:
        raw = params.get("group_id", "").strip()
        community = self.state._find_community(raw) if raw else None
        if community is None:
            raise _invalid("group_id is undefined or unknown")
        self.state._community_checked(community.id, ctx, write=True)
        count = self.state._int(params, "count", default=10)
        offset = self.state._int(params, "offset", default=0)
        if not 1 <= count <= 50 or offset < 0:
            raise _invalid("count should be 1..50, offset >= 0")
        orders = sorted((o for o in self._orders.values() if o.group_id == community.id), key=lambda o: -o.id)
        return {"count": len(orders), "items": [self._order_json(o) for o in orders[offset : offset + count]]}

    def _get_order_by_id(self, params: dict[str, str], ctx) -> dict:
        return {"order": self._order_json(self._order_for(params, ctx))}

    def _get_order_items(self, params: dict[str, str], ctx) -> dict:
        order = self._order_for(params, ctx)
        offset = self.state._int(params, "offset", default=0)
        count = self.state._int(params, "count", default=50)
        lines = order.lines[offset : offset + count]
        return {"count": len(order.lines), "items": [self._line_json(line) for line in lines]}

    def _edit_order(self, params: dict[str, str], ctx) -> int:
        if not params.get("user_id", "").strip():
            raise _invalid("user_id is undefined")
        order = self._order_for(params, ctx)
        if params.get("status", "").strip() != "":
            status = self.state._int(params, "status")
            if status not in STATUSES:
                raise self._error(1456)
            self._set_status(order, status)
        for name in ("merchant_comment", "track_number"):
            if name in params:
                setattr(order, name, params[name])
        self.state._stats["writes"] += 1
        event = self._event(order.group_id, "market_order_edit", self._order_json(order))
        if self.sender is None:  # over HTTP: after this answer, as VK would
            threading.Thread(target=self._deliver, args=(order.group_id, event), daemon=True).start()
        else:  # a test's synchronous sender: delivered when the test calls flush()
            self.pending.append((order.group_id, event))
        return 1

    def flush(self) -> int:
        """Deliver the events API edits queued while a test's sender is set; how many."""
        with self.state.lock:
            pending, self.pending = self.pending, []
        for group_id, event in pending:
            self._deliver(group_id, event)
        return len(pending)

    def _set_status(self, order: _Order, status: int) -> None:
        was = order.status
        order.status = status
        if self.state.readings.vk_decrements_stock and status == CANCELLED and was != CANCELLED:
            for line in order.lines:
                item = self.state._items.get(line.item_id)
                if item is not None and item.stock_amount is not None:
                    item.stock_amount += line.quantity

    # ------------------------------------------------------------------ JSON shapes
    def _line_json(self, line: _Line) -> dict:
        item = self.state._items.get(line.item_id)
        return {
            "owner_id": line.owner_id,
            "item_id": line.item_id,
            "price": format_price(line.price_kopecks),
            "quantity": line.quantity,
            "item": {
                "id": line.item_id,
                "owner_id": line.owner_id,
                "title": line.title,
                "sku": item.sku if item else None,
            },
            "title": line.title,
        }

    def _order_json(self, order: _Order) -> dict:
        total = sum(line.price_kopecks * line.quantity for line in order.lines)
        return {
            "id": order.id,
            "group_id": order.group_id,
            "user_id": order.user_id,
            "display_order_id": f"{order.user_id}-{order.id}",
            "date": order.date,
            "status": order.status,
            "items_count": len(order.lines),
            "total_price": format_price(total),
            "comment": order.comment,
            "address": order.address,
            "merchant_comment": order.merchant_comment,
            "track_number": order.track_number,
            "preview_order_items": [self._line_json(line) for line in order.lines[:3]],
        }

    # ------------------------------------------------------------------ callbacks
    def _event(self, group_id: int, kind: str, obj: dict) -> dict:
        return {
            "type": kind,
            "object": obj,
            "group_id": group_id,
            "event_id": f"{kind}-{group_id}-{next(self._event_ids):08d}",
            "v": "5.199",
        }

    def _deliver(self, group_id: int, event: dict) -> None:
        """Send one event (and, under the out-of-order reading, repeats and a late older one); never raises."""
        with self.state.lock:
            server = self._servers.get(group_id)
            previous = self._last_event.get(group_id)
            self._last_event[group_id] = event
            messy = self.state.readings.order_callbacks == "repeated_out_of_order"
        if server is None:
            return
        if server.confirmed is None:
            answer = self._post(server.url, {"type": "confirmation", "group_id": group_id})
            server.confirmed = answer is not None and answer.strip() == server.confirmation
        if not server.confirmed:
            log.info("vk emulator: callback server of %s not confirmed; event not sent", group_id)
            return
        body = {**event, "secret": server.secret}
        batch = [body, body] + ([{**previous, "secret": server.secret}] if messy and previous else [])
        for one in batch if messy else [body]:
            self._post(server.url, one)

    def _post(self, url: str, body: dict) -> str | None:
        try:
            if self.sender is not None:
                answer = self.sender(url, body)
            else:
                answer = requests.post(
                    url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=10
                ).text
        except Exception as exc:  # noqa: BLE001 - VK just records a failed delivery
            log.info("vk emulator: callback to %s failed: %s", url, exc)
            answer = None
        with self.state.lock:
            self.deliveries.append({"url": url, "body": body, "answer": answer})
        return answer


def create_orders_control_blueprint(state: VkState) -> Blueprint:
    """Control routes for tests and the demo: place an order as a shopper, register a callback server."""
    bp = Blueprint("vk_orders_control", __name__)

    @bp.post("/control/vk/orders")
    def place():
        body = request.get_json(silent=True) or {}
        try:
            items = [(int(i["item_id"]), int(i.get("quantity", 1))) for i in body.get("items") or []]
            order = state.orders.place_order(
                int(body["group_id"]),
                items,
                comment=str(body.get("comment") or ""),
                address=str(body.get("address") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(order)

    @bp.get("/control/vk/orders/<int:group_id>")
    def listing(group_id: int):
        return jsonify(state.orders.orders(group_id))

    @bp.post("/control/vk/callback-server")
    def callback_server():
        body = request.get_json(silent=True) or {}
        try:
            code = state.orders.set_callback_server(
                int(body["group_id"]),
                str(body["url"]),
                str(body.get("secret") or ""),
                str(body.get("confirmation") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify({"confirmation": code})

    return bp
