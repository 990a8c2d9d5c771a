"""Emulator of the VK API 5.199 methods EvoSync uses: market.*, groups.getById, photo upload, execute.

Faithful to /work/shared/reference/vk-api.md: form-encoded params, arrays as comma-separated strings,
``{"response": ...}`` or ``{"error": {...}}`` at HTTP 200, a 3 requests/s sliding window per token,
negative ``owner_id`` for market.*, one photo id per item, error codes 5/6/8/9/10/12/13/15/100/14xx.
Choices where VK is not documented are spelled out next to the code that makes them.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, jsonify, request
from PIL import Image, UnidentifiedImageError

from evosync.sandbox.faults import Faults
from evosync.sandbox.readings import Readings
from evosync.sandbox.vk_orders import VkOrders
from evosync.sandbox.vk_variants import VariantsMixin
from evosync.sandbox.vkid import VkIdState
from evosync.sandbox.vkscript import MAX_EXECUTE_CALLS, VkScriptCompileError, parse_execute_code

log = logging.getLogger(__name__)

ERROR_MESSAGES = {
    1: "Unknown error occurred",
    3: "Unknown method passed",
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v is required",
    9: "Flood control",
    10: "Internal server error",
    12: "Unable to compile code",
    13: "Runtime error occurred during code invocation",
    15: "Access denied",
    100: "One of the parameters specified was missing or invalid",
    203: "Access to group denied: access to closed group",
    1402: "Album not found",
    1400: "Too late for restore",
    1403: "Item not found",
    1404: "Item already added to album",
    1405: "Too many items",
    1406: "Too many items in album",
    1407: "Too many albums",
    1409: "Extended market not enabled",
    1410: "Variants not enabled",
    1411: "Variants error",
    1412: "Grouping items with different properties",
    1413: "Grouping already has such variant",
    1415: "Grouping must have variants",
    1416: "Variant not found",
    1417: "Property not found",
    1425: "Grouping must have two or more items",
    1426: "Item must have distinct properties",
    1438: "Market not enabled",
    1518: "Item is not deleted",
}

WRITE_METHODS = frozenset(
    {
        "market.add",
        "market.edit",
        "market.delete",
        "market.restore",
        "market.addAlbum",
        "market.editAlbum",
        "market.deleteAlbum",
        "market.addToAlbum",
        "market.removeFromAlbum",
        "market.saveProductPhoto",
        "photos.saveMarketPhoto",
        "market.addProperty",
        "market.editProperty",
        "market.deleteProperty",
        "market.addPropertyVariant",
        "market.editPropertyVariant",
        "market.deletePropertyVariant",
        "market.groupItems",
        "market.ungroupItems",
    }
)

PHOTO_SAVE_METHODS = frozenset({"market.saveProductPhoto", "photos.saveMarketPhoto"})

# Fault kinds answered as a VK error for the whole request.
ERROR_FAULTS = {"6": 6, "9": 9, "10": 10}

# A small slice of VK's category tree: sections with leaf categories (ids as in the old VK list).
CATEGORY_TREE: list[dict[str, Any]] = [
    {
        "id": 10000,
        "name": "Гардероб",
        "children": [
            {"id": 1, "name": "Женская одежда"},
            {"id": 2, "name": "Мужская одежда"},
            {"id": 3, "name": "Детская одежда"},
            {"id": 4, "name": "Обувь и сумки"},
            {"id": 5, "name": "Аксессуары и украшения"},
        ],
    },
    {
        "id": 10004,
        "name": "Электроника",
        "children": [
            {"id": 400, "name": "Телефоны и аксессуары"},
            {"id": 401, "name": "Фото- и видеокамеры"},
            {"id": 404, "name": "Компьютеры"},
        ],
    },
    {
        "id": 10007,
        "name": "Продукты питания",
        "children": [
            {"id": 700, "name": "Продукты"},
            {"id": 701, "name": "Напитки"},
            {"id": 702, "name": "Кондитерские изделия"},
        ],
    },
    {
        "id": 10009,
        "name": "Прочее",
        "children": [
            {"id": 900, "name": "Другое"},
            {"id": 901, "name": "Услуги"},
        ],
    },
]
_CATEGORIES: dict[int, tuple[str, dict[str, Any]]] = {
    leaf["id"]: (leaf["name"], {"id": section["id"], "name": section["name"]})
    for section in CATEGORY_TREE
    for leaf in section["children"]
}
_OTHER_SECTION = {"id": 10009, "name": "Прочее"}

MARKET_PHOTO_ALBUM_ID = -53  # VK keeps product photos in a service album with this id
MIN_PHOTO_SIDE = 400
MAX_PHOTO_SIDES_SUM = 14000
MAX_PHOTO_BYTES = 50 * 1024 * 1024


class VkApiError(Exception):
    """A VK API error: becomes ``{"error": {...}}`` (or a ``false`` inside execute)."""

    def __init__(self, code: int, detail: str | None = None):
        base = ERROR_MESSAGES.get(code, ERROR_MESSAGES[1])
        super().__init__(f"{base}: {detail}" if detail else base)
        self.code = code
        self.msg = str(self)


def _invalid(detail: str) -> VkApiError:
    return VkApiError(100, detail)


@dataclass
class _Token:
    user_id: int
    expires_at: float | None = None  # time.time() after which the token answers error 5
    revoked: bool = False


@dataclass
class _Community:
    id: int
    name: str
    screen_name: str
    admin_user_ids: set[int]
    market_enabled: bool = True
    is_closed: int = 0  # 0 open, 1 closed, 2 private (VK's values)
    max_items: int = 15000
    max_items_in_album: int = 10000
    max_albums: int = 100
    next_album_id: int = 1
    extended_mode: bool = False  # the community's "extended" products mode: properties, variants, grouping


@dataclass
class _Item:
    id: int
    owner_id: int
    title: str
    description: str
    price_kopecks: int
    category_id: int
    main_photo_id: int
    photo_ids: list[int]  # the extra photos, main one excluded
    date: int
    old_price_kopecks: int | None = None
    unavailable: bool = False  # the "deleted=1" flag of add/edit -> availability 2 or 1 (a reading)
    removed: bool = False  # market.delete -> availability 1; returned by market.get or not (a reading)
    restorable: bool = True  # False once VK deems it too late to restore (market.restore -> 1400)
    reject_info: dict | None = None  # VK's moderators' verdict; an edit sends it back to moderation (cleared)
    sku: str | None = None
    stock_amount: int | None = None
    url: str | None = None
    albums_ids: list[int] = field(default_factory=list)
    updated: int = 0
    variant_ids: list[int] = field(default_factory=list)  # property variants (at most 2, distinct properties)
    grouping_id: int | None = None  # market.groupItems' item_group_id ("variants_grouping_id" in answers)
    is_main_variant: bool = False

    def availability(self, readings: Readings) -> int:
        if self.removed:
            return 1
        return readings.hidden_availability if self.unavailable else 0


@dataclass
class _Album:
    id: int
    owner_id: int
    title: str
    is_main: bool = False
    is_hidden: bool = False
    photo_id: int | None = None
    updated_time: int = 0


@dataclass
class _Photo:
    id: int
    owner_id: int
    width: int
    height: int
    mimetype: str
    data: bytes
    date: int
    item_id: int | None = None  # once set, never cleared: a photo id serves ONE item


@dataclass
class _Upload:
    """A file received by the upload server, waiting for saveProductPhoto."""

    group_id: int
    width: int
    height: int
    mimetype: str
    data: bytes
    hash: str
    saved: bool = False


@dataclass
class _Ctx:
    token: str
    user_id: int
    vk_base: str  # absolute URL of the emulator root ("http://127.0.0.1:PORT/vk")


@dataclass
class HttpAnswer:
    """What the blueprint sends back: a JSON body, or an HTML error page for 5xx faults."""

    status: int
    body: Any = None
    html: str | None = None


@dataclass
class PendingCall:
    """A request that passed every gate; run by ``finish_request`` after any fault sleep."""

    method: str
    params: dict[str, str]
    ctx: _Ctx
    calls: Any  # parsed execute calls, a VkScriptCompileError, or None
    fault: str | None
    sleep_before: float = 0.0


def _empty_stats() -> dict[str, Any]:
    return {
        "requests": 0,
        "execute_requests": 0,
        "calls": 0,
        "writes": 0,
        "uploads": 0,
        "errors": {},
        "methods": {},
        "faults": {},
        "token_exchanges": 0,
        "token_refreshes": 0,
    }


def _scalar_to_param(value: Any) -> str | None:
    """Turn a JSON value from execute into the form-encoded string VK would see."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(str(_scalar_to_param(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def format_price(kopecks: int) -> dict[str, Any]:
    """VK's price object: amount as a string in kopecks, text in rubles."""
    rubles, rest = divmod(kopecks, 100)
    return {
        "amount": str(kopecks),
        "currency": {"id": 643, "name": "RUB", "title": "Rub"},
        "text": f"{rubles}.{rest:02d} ₽",
    }


class VkState(VariantsMixin):
    """All VK-side state of the sandbox, guarded by one lock; see sandbox_iface.md for the contract."""

    def __init__(self, seed: int = 0):
        self.lock = threading.RLock()
        self.faults = Faults(seed=seed)
        self.rate_limit = 3
        self.rate_window = 1.0
        self.rate_limit_enabled = True
        self.vkid = VkIdState(self)
        self.readings = Readings()
        self._init_data()

    def _init_data(self) -> None:
        self._tokens: dict[str, _Token] = {}
        self._user_ids: list[int] = []
        self._communities: dict[int, _Community] = {}
        self._items: dict[int, _Item] = {}
        self._albums: dict[tuple[int, int], _Album] = {}
        self._photos: dict[int, _Photo] = {}
        self._upload_servers: dict[str, int] = {}  # upload key -> group id
        self._uploads: dict[str, _Upload] = {}  # "photo" field of the upload answer -> upload
        self._windows: dict[str, deque[float]] = {}
        self._stats = _empty_stats()
        self._next_user_id = 10_000_001
        self._next_item_id = 5_000_001
        self._next_photo_id = 457_240_001
        self._answers_5xx = 0
        self._init_variants()
        self._live_per_sku: dict[tuple[int, str], int] = {}  # (owner id, sku) -> items not removed
        self._peak_per_sku: dict[tuple[int, str], int] = {}  # ... the most there ever were at once
        self.orders = VkOrders(self)  # shoppers' orders, the order methods and callbacks (vk_orders.py)

    def reset(self) -> None:
        """Forget every user, community, item, fault, counter and rate-limit window."""
        with self.lock:
            self._init_data()
            self.faults.clear()
            self.rate_limit = 3
            self.rate_window = 1.0
            self.rate_limit_enabled = True
            self.readings = Readings()
            self.vkid.reset()

    # ------------------------------------------------------------------ setup helpers for tests
    def add_user(self, token: str, user_id: int | None = None, expires_in: float | None = None) -> int:
        """Register a user access token (creating the user when needed); returns the user id."""
        with self.lock:
            existing = self._tokens.get(token)
            if existing is not None:
                if user_id is not None and user_id != existing.user_id:
                    raise ValueError(f"token already belongs to user {existing.user_id}")
                return existing.user_id
            if user_id is None:
                user_id = self._next_user_id
                self._next_user_id += 1
            if user_id not in self._user_ids:
                self._user_ids.append(user_id)
            expires_at = time.time() + expires_in if expires_in is not None else None
            self._tokens[token] = _Token(user_id=user_id, expires_at=expires_at)
            return user_id

    def new_user_id(self) -> int:
        """Create a user with no token yet (VK ID issues tokens for it)."""
        with self.lock:
            user_id = self._next_user_id
            self._next_user_id += 1
            self._user_ids.append(user_id)
            return user_id

    @property
    def user_ids(self) -> list[int]:
        with self.lock:
            return list(self._user_ids)

    def token_user(self, token: str) -> int | None:
        with self.lock:
            info = self._tokens.get(token)
            return info.user_id if info else None

    def revoke_token(self, token: str) -> None:
        """The token answers error 5 from now on."""
        with self.lock:
            if token in self._tokens:
                self._tokens[token].revoked = True

    def expire_token(self, token: str) -> None:
        """Make the token expired right now (error 5 from now on)."""
        with self.lock:
            if token in self._tokens:
                self._tokens[token].expires_at = time.time() - 1

    def add_community(
        self,
        group_id: int,
        name: str,
        admin_tokens: Iterable[str] = (),
        market_enabled: bool = True,
        screen_name: str | None = None,
        *,
        admin_user_ids: Iterable[int] = (),
        is_closed: int = 0,
        extended_mode: bool = False,
        max_items: int = 15000,
        max_items_in_album: int = 10000,
        max_albums: int = 100,
    ) -> dict:
        """Create a community administered by the users of ``admin_tokens`` (unknown tokens are added)."""
        if isinstance(admin_tokens, str):
            admin_tokens = (admin_tokens,)
        with self.lock:
            admins = {self.add_user(token) for token in admin_tokens} | set(admin_user_ids)
            community = _Community(
                id=group_id,
                name=name,
                screen_name=screen_name or f"club{group_id}",
                admin_user_ids=admins,
                market_enabled=market_enabled,
                is_closed=is_closed,
                extended_mode=extended_mode,
                max_items=max_items,
                max_items_in_album=max_items_in_album,
                max_albums=max_albums,
            )
            self._communities[group_id] = community
            return self._community_json(community, admin=True, with_market=True)

    def add_admin(self, group_id: int, token: str) -> None:
        with self.lock:
            self._communities[group_id].admin_user_ids.add(self.add_user(token))

    def set_market_enabled(self, group_id: int, enabled: bool) -> None:
        with self.lock:
            self._communities[group_id].market_enabled = enabled

    def set_limits(
        self,
        group_id: int,
        max_items: int | None = None,
        max_items_in_album: int | None = None,
        max_albums: int | None = None,
    ) -> None:
        """Change the per-community caps behind errors 1405 / 1406 / 1407."""
        with self.lock:
            community = self._communities[group_id]
            if max_items is not None:
                community.max_items = max_items
            if max_items_in_album is not None:
                community.max_items_in_album = max_items_in_album
            if max_albums is not None:
                community.max_albums = max_albums

    def remove_item_by_hand(self, group_id: int, item_id: int) -> None:
        """What a merchant deleting the item in VK's UI does: the API then answers 1403 for it."""
        with self.lock:
            item = self._items.get(item_id)
            if item is not None and item.owner_id == -group_id and not item.removed:
                self._set_removed(item, True)

    def reject_item(self, group_id: int, item_id: int, title: str, description: str = "") -> None:
        """VK's moderators reject an item: market.get then carries ``reject_info`` until the item is edited."""
        with self.lock:
            item = self._items.get(item_id)
            if item is None or item.owner_id != -group_id:
                raise KeyError(item_id)
            item.reject_info = {
                "title": title,
                "description": description,
                "moderation_status": 2,
                "buttons": [],
            }

    def expire_removed(self, group_id: int | None = None) -> int:
        """Time passes: every removed item becomes too late to restore (and, when returned, is no longer)."""
        with self.lock:
            expired = 0
            for item in self._items.values():
                if item.removed and item.restorable and (group_id is None or item.owner_id == -group_id):
                    item.restorable = False
                    expired += 1
            return expired

    def max_items_per_sku(self, group_id: int | None = None) -> int:
        """The most items (not removed) that ever carried one sku at the same time, in one community or any."""
        with self.lock:
            return max(
                (n for (owner, _), n in self._peak_per_sku.items() if group_id is None or owner == -group_id),
                default=0,
            )

    def _count_sku(self, item: _Item, delta: int) -> None:
        if not item.sku:
            return
        key = (item.owner_id, item.sku)
        live = self._live_per_sku.get(key, 0) + delta
        self._live_per_sku[key] = live
        if live > self._peak_per_sku.get(key, 0):
            self._peak_per_sku[key] = live

    def _set_removed(self, item: _Item, removed: bool) -> None:
        if item.removed != removed:
            item.removed = removed
            self._count_sku(item, -1 if removed else 1)

    # ------------------------------------------------------------------ inspection for tests
    def items(self, group_id: int) -> list[dict]:
        """Every item of the community, removed ones included, in creation order."""
        with self.lock:
            return [
                {
                    "id": item.id,
                    "owner_id": item.owner_id,
                    "title": item.title,
                    "description": item.description,
                    "price": str(item.price_kopecks),
                    "old_price": None if item.old_price_kopecks is None else str(item.old_price_kopecks),
                    "category_id": item.category_id,
                    "availability": item.availability(self.readings),
                    "deleted": item.removed,
                    "restorable": item.restorable,
                    "unavailable": item.unavailable,
                    "sku": item.sku,
                    "stock_amount": item.stock_amount,
                    "url": item.url,
                    "main_photo_id": item.main_photo_id,
                    "photo_ids": [item.main_photo_id, *item.photo_ids],
                    "albums_ids": list(item.albums_ids),
                    "date": item.date,
                    "updated": item.updated,
                    "variant_ids": list(item.variant_ids),
                    "grouping_id": item.grouping_id,
                }
                for item in sorted(self._items.values(), key=lambda i: i.id)
                if item.owner_id == -group_id
            ]

    def albums(self, group_id: int) -> list[dict]:
        with self.lock:
            return [self._album_json(album) for (gid, _), album in sorted(self._albums.items()) if gid == group_id]

    @property
    def photos(self) -> dict[int, int | None]:
        """photo_id -> the item it is attached to, or None."""
        with self.lock:
            return {photo.id: photo.item_id for photo in self._photos.values()}

    def photo_file(self, photo_id: int) -> tuple[bytes, str] | None:
        with self.lock:
            photo = self._photos.get(photo_id)
            return (photo.data, photo.mimetype) if photo else None

    @property
    def stats(self) -> dict[str, Any]:
        """A deep copy of the counters (safe to serialise while requests run)."""
        with self.lock:
            return copy.deepcopy(self._stats)

    def count(self, key: str, amount: int = 1) -> None:
        with self.lock:
            self._stats[key] += amount

    def _count_error(self, code: int) -> None:
        errors = self._stats["errors"]
        errors[str(code)] = errors.get(str(code), 0) + 1

    # ------------------------------------------------------------------ the HTTP pipeline
    def handle_request(self, method: str, raw_params: dict[str, str], vk_base: str) -> HttpAnswer | PendingCall:
        """Run one /method/<name> request: checks, faults, rate limit, dispatch (no sleeping here)."""
        params = {k: v for k, v in raw_params.items() if k != "access_token"}
        with self.lock:
            self._stats["requests"] += 1
            if method == "execute":
                self._stats["execute_requests"] += 1
            try:
                ctx = self._check_request(method, raw_params, vk_base)
            except VkApiError as exc:
                return HttpAnswer(200, self._error_body(exc, method, params))

            calls = None
            if method == "execute":
                try:
                    calls = parse_execute_code(params.get("code", ""))
                except VkScriptCompileError as exc:
                    calls = exc
            fault = self._draw_fault(method, calls)
            if fault in ERROR_FAULTS:
                return HttpAnswer(200, self._error_body(VkApiError(ERROR_FAULTS[fault]), method, params))
            if fault == "5xx":
                self._answers_5xx += 1
                status = 502 if self._answers_5xx % 2 else 500
                return HttpAnswer(status, html=_html_error(status))
        sleep = 0.0
        if fault == "timeout":
            sleep = float(self.faults.timeout_seconds)
        elif fault == "slow":
            sleep = float(self.faults.slow_seconds)
        return PendingCall(method, params, ctx, calls, fault, sleep_before=sleep)

    def finish_request(self, pending: PendingCall) -> HttpAnswer:
        """Second half of a request, after any fault sleep: dispatch and answer."""
        method, params, ctx, calls, fault = (
            pending.method,
            pending.params,
            pending.ctx,
            pending.calls,
            pending.fault,
        )
        with self.lock:
            if method == "execute":
                body = self._execute(params, ctx, calls)
            else:
                try:
                    body = {"response": self._dispatch(method, params, ctx)}
                except VkApiError as exc:
                    body = self._error_body(exc, method, params)
        if fault == "drop_after_write":
            return HttpAnswer(502, html=_html_error(502))
        return HttpAnswer(200, body)

    def _check_request(self, method: str, raw_params: dict[str, str], vk_base: str) -> _Ctx:
        if not raw_params.get("v"):
            raise VkApiError(8)
        token = raw_params.get("access_token", "")
        if not token:
            raise VkApiError(5, "no access_token passed.")
        if method != "execute" and method not in self._handlers():
            raise VkApiError(3)
        info = self._tokens.get(token)
        if info is None or info.revoked or (info.expires_at is not None and time.time() >= info.expires_at):
            raise VkApiError(5)
        if self.rate_limit_enabled:
            window = self._windows.setdefault(token, deque())
            now = time.monotonic()
            while window and now - window[0] >= self.rate_window:
                window.popleft()
            if len(window) >= self.rate_limit:
                raise VkApiError(6)
            window.append(now)  # only accepted requests use up the budget
        return _Ctx(token=token, user_id=info.user_id, vk_base=vk_base)

    def _draw_fault(self, method: str, calls: Any) -> str | None:
        fault = self.faults.draw(method)
        if fault is None and isinstance(calls, list):
            # A fault pushed for one method also hits an execute batch that contains it.
            pending_methods = {m for _, m in self.faults.pending if m}
            for call in calls:
                if call.method in pending_methods:
                    fault = self.faults.draw(call.method)
                    break
        if fault is not None:
            faults = self._stats["faults"]
            faults[fault] = faults.get(fault, 0) + 1
        return fault

    def _error_body(self, exc: VkApiError, method: str, params: dict[str, str]) -> dict:
        self._count_error(exc.code)
        request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
        request_params += [{"key": k, "value": v} for k, v in params.items()]
        return {"error": {"error_code": exc.code, "error_msg": exc.msg, "request_params": request_params}}

    def _execute(self, params: dict[str, str], ctx: _Ctx, calls: Any) -> dict:
        self._count_method("execute")
        if "code" not in params:
            return self._error_body(_invalid("code is undefined"), "execute", params)
        if isinstance(calls, VkScriptCompileError):
            return self._error_body(VkApiError(12, str(calls)), "execute", params)
        if len(calls) > MAX_EXECUTE_CALLS:
            return self._error_body(VkApiError(13, "Too many API calls"), "execute", params)
        results: list[Any] = []
        errors: list[dict] = []
        for call in calls:
            inner = {k: s for k, v in call.params.items() if (s := _scalar_to_param(v)) is not None}
            try:
                if call.method == "execute":
                    raise VkApiError(13, "execute cannot be called from execute")
                if call.method in PHOTO_SAVE_METHODS and not self.readings.photo_saves_in_execute:
                    # One reading of VK: upload "save" methods are not available inside execute. The code
                    # is a guess (none is documented); EvoSync must not depend on which one it is.
                    raise VkApiError(15, "Access denied: this method is not available in execute")
                results.append(self._dispatch(call.method, inner, ctx))
            except VkApiError as exc:
                self._count_error(exc.code)
                results.append(False)
                errors.append({"method": call.method, "error_code": exc.code, "error_msg": exc.msg})
        body: dict[str, Any] = {"response": results}
        if errors:
            body["execute_errors"] = errors
        return body

    def _count_method(self, method: str) -> None:
        methods = self._stats["methods"]
        methods[method] = methods.get(method, 0) + 1

    def _dispatch(self, method: str, params: dict[str, str], ctx: _Ctx) -> Any:
        self._stats["calls"] += 1
        self._count_method(method)
        handler = self._handlers().get(method)
        if handler is None:
            raise VkApiError(3)
        result = handler(params, ctx)
        if method in WRITE_METHODS:
            self._stats["writes"] += 1
        return result

    def _handlers(self) -> dict[str, Callable[[dict[str, str], _Ctx], Any]]:
        return {
            "groups.getById": self._groups_get_by_id,
            "groups.get": self._groups_get,
            "market.get": self._market_get,
            "market.getById": self._market_get_by_id,
            "market.getAlbums": self._market_get_albums,
            "market.getAlbumById": self._market_get_album_by_id,
            "market.add": self._market_add,
            "market.edit": self._market_edit,
            "market.delete": self._market_delete,
            "market.restore": self._market_restore,
            "market.addAlbum": self._market_add_album,
            "market.editAlbum": self._market_edit_album,
            "market.deleteAlbum": self._market_delete_album,
            "market.addToAlbum": self._market_add_to_album,
            "market.removeFromAlbum": self._market_remove_from_album,
            "market.getCategories": self._market_get_categories,
            "market.getProductPhotoUploadServer": self._get_upload_server,
            "market.saveProductPhoto": self._save_product_photo,
            "photos.getMarketUploadServer": self._get_upload_server,
            "photos.saveMarketPhoto": self._save_market_photo_legacy,
            **self._variant_handlers(),
            **self.orders.handlers(),  # market.getGroupOrders, getOrderById, getOrderItems, editOrder
        }

    # ------------------------------------------------------------------ param parsing
    @staticmethod
    def _int(params: dict[str, str], key: str, default: int | None = None, required: bool = False) -> int:
        raw = params.get(key, "").strip()
        if raw == "":
            if required or default is None:
                raise _invalid(f"{key} is undefined")
            return default
        try:
            return int(raw)
        except ValueError:
            raise _invalid(f"{key} not integer") from None

    @staticmethod
    def _int_list(params: dict[str, str], key: str, required: bool = True) -> list[int]:
        raw = params.get(key, "").strip()
        if raw == "":
            if required:
                raise _invalid(f"{key} is undefined")
            return []
        try:
            return [int(part) for part in raw.split(",") if part.strip() != ""]
        except ValueError:
            raise _invalid(f"{key} should be a list of integers") from None

    @staticmethod
    def _price(params: dict[str, str], key: str) -> int:
        raw = params[key].strip()
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise _invalid(f"{key} is not a number") from None
        if not value.is_finite() or value < 0:
            raise _invalid(f"{key} should be a non-negative number")
        return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    # ------------------------------------------------------------------ access helpers
    def _community_by_owner(self, params: dict[str, str], ctx: _Ctx, write: bool) -> _Community:
        owner_id = self._int(params, "owner_id", required=True)
        if owner_id >= 0:
            raise _invalid("owner_id should be negative (a community)")
        return self._community_checked(-owner_id, ctx, write)

    def _community_checked(self, group_id: int, ctx: _Ctx, write: bool) -> _Community:
        community = self._communities.get(group_id)
        if community is None:
            raise _invalid("group not found")
        is_admin = ctx.user_id in community.admin_user_ids
        if write and not is_admin:
            raise VkApiError(15, "no access to this community")
        if not is_admin and community.is_closed:
            raise VkApiError(203)
        if not community.market_enabled:
            raise VkApiError(1438)
        return community

    def _item(self, community: _Community, item_id: int) -> _Item:
        item = self._items.get(item_id)
        if item is None or item.owner_id != -community.id or item.removed:
            raise VkApiError(1403)
        return item

    def _album(self, community: _Community, album_id: int) -> _Album:
        album = self._albums.get((community.id, album_id))
        if album is None:
            raise VkApiError(1402)
        return album

    def _live_items(self, community: _Community) -> list[_Item]:
        return [i for i in self._items.values() if i.owner_id == -community.id and not i.removed]

    def _album_size(self, community: _Community, album_id: int) -> int:
        return sum(1 for i in self._live_items(community) if album_id in i.albums_ids)

    # ------------------------------------------------------------------ JSON shapes
    def _community_json(self, community: _Community, admin: bool, with_market: bool) -> dict:
        data: dict[str, Any] = {
            "id": community.id,
            "name": community.name,
            "screen_name": community.screen_name,
            "is_closed": community.is_closed,
            "type": "group",
            "is_admin": 1 if admin else 0,
            "photo_50": "",
            "photo_100": "",
            "photo_200": "",
        }
        if admin:
            data["admin_level"] = 3
        if with_market:
            data["market"] = {"enabled": 1 if community.market_enabled else 0}
        return data

    def _photo_json(self, photo: _Photo, vk_base: str) -> dict:
        url = f"{vk_base}/photo/{photo.id}"
        return {
            "id": photo.id,
            "owner_id": photo.owner_id,
            "album_id": MARKET_PHOTO_ALBUM_ID,
            "date": photo.date,
            "text": "",
            "sizes": [{"type": "w", "url": url, "width": photo.width, "height": photo.height}],
        }

    def _item_json(self, item: _Item, extended: bool, vk_base: str) -> dict:
        name, section = _CATEGORIES.get(item.category_id, (f"Категория {item.category_id}", _OTHER_SECTION))
        price = format_price(item.price_kopecks)
        if item.old_price_kopecks is not None:
            price["old_amount"] = str(item.old_price_kopecks)
        data: dict[str, Any] = {
            "id": item.id,
            "owner_id": item.owner_id,
            "title": item.title,
            "description": item.description,
            "price": price,
            "category": {"id": item.category_id, "name": name, "section": dict(section)},
            "availability": item.availability(self.readings),
            "date": item.date,
            "thumb_photo": f"{vk_base}/photo/{item.main_photo_id}",
        }
        if item.sku is not None and self.readings.get_returns_sku:
            data["sku"] = item.sku
        if item.stock_amount is not None:
            data["stock_amount"] = item.stock_amount
        if item.url:
            data["url"] = item.url
        if item.reject_info:
            data["reject_info"] = dict(item.reject_info)
        if item.grouping_id is not None:
            data["variants_grouping_id"] = item.grouping_id
            data["is_main_variant"] = item.is_main_variant
        if extended:
            data["albums_ids"] = list(item.albums_ids)
            photos = [self._photos[pid] for pid in [item.main_photo_id, *item.photo_ids] if pid in self._photos]
            data["photos"] = [self._photo_json(p, vk_base) for p in photos]
        return data

    def _album_json(self, album: _Album) -> dict:
        community = self._communities[-album.owner_id]
        data: dict[str, Any] = {
            "id": album.id,
            "owner_id": album.owner_id,
            "title": album.title,
            "count": self._album_size(community, album.id),
            "is_main": album.is_main,
            "is_hidden": album.is_hidden,
            "updated_time": album.updated_time,
        }
        if album.photo_id is not None:
            data["photo"] = {"id": album.photo_id, "owner_id": album.owner_id}
        return data

    # ------------------------------------------------------------------ groups
    def _groups_get_by_id(self, params: dict[str, str], ctx: _Ctx) -> dict:
        """5.199 shape: {"groups": [...], "profiles": []}; ``market`` only with fields=market."""
        raw = params.get("group_ids") or params.get("group_id") or ""
        if not raw.strip():
            raise _invalid("group_ids is undefined")
        fields = {f.strip() for f in params.get("fields", "").split(",")}
        groups = []
        for ref in (part.strip() for part in raw.split(",")):
            if not ref:
                continue
            community = self._find_community(ref)
            if community is None:
                raise _invalid("Invalid group id")
            admin = ctx.user_id in community.admin_user_ids
            if community.is_closed == 2 and not admin:
                raise VkApiError(203)
            groups.append(self._community_json(community, admin, with_market="market" in fields))
        return {"groups": groups, "profiles": []}

    def _groups_get(self, params: dict[str, str], ctx: _Ctx) -> dict:
        """The token owner's communities; ``filter`` admin/editor/moder keep those they manage (all alike here)."""
        if params.get("user_id", "").strip() not in ("", str(ctx.user_id)):
            raise VkApiError(15, "only the token owner's communities are available")
        offset, count = self._int(params, "offset", default=0), self._int(params, "count", default=1000)
        if offset < 0 or not 0 <= count <= 1000:
            raise _invalid("offset or count out of range")
        mine = sorted((c for c in self._communities.values() if ctx.user_id in c.admin_user_ids), key=lambda c: c.id)
        page = mine[offset : offset + count]
        if params.get("extended", "0").strip() != "1":
            return {"count": len(mine), "items": [c.id for c in page]}
        fields = {f.strip() for f in params.get("fields", "").split(",")}
        items = [self._community_json(c, admin=True, with_market="market" in fields) for c in page]
        return {"count": len(mine), "items": items}

    def _find_community(self, ref: str) -> _Community | None:
        for prefix in ("club", "public", "event"):
            if ref.startswith(prefix) and ref[len(prefix) :].isdigit():
                found = self._communities.get(int(ref[len(prefix) :]))
                if found:
                    return found
        if ref.lstrip("-").isdigit():
            return self._communities.get(abs(int(ref)))
        return next((c for c in self._communities.values() if c.screen_name == ref), None)

    # ------------------------------------------------------------------ market reads
    def _market_get(self, params: dict[str, str], ctx: _Ctx) -> dict:
        """Newest first. Which hidden and removed items come back depends on the readings (readings.py):
        removed ones only under ``deleted_returned`` while still restorable; hidden and removed ones only
        with ``with_disabled=1`` under ``hidden_needs_with_disabled``."""
        community = self._community_by_owner(params, ctx, write=False)
        count = self._int(params, "count", default=100)
        offset = self._int(params, "offset", default=0)
        if not 0 <= count <= 200:
            raise _invalid("count should be in range 0..200")
        if offset < 0:
            raise _invalid("offset should be positive")
        album_id = self._int(params, "album_id", default=0)
        items = self._live_items(community)
        if self.readings.deleted_returned:
            items += [i for i in self._items.values() if i.owner_id == -community.id and i.removed and i.restorable]
        if self.readings.hidden_needs_with_disabled and params.get("with_disabled") != "1":
            items = [i for i in items if i.availability(self.readings) == 0]
        if album_id:
            self._album(community, album_id)
            items = [i for i in items if album_id in i.albums_ids]
        if self.readings.grouped_need_variants and params.get("need_variants") != "1":
            items = [i for i in items if i.grouping_id is None or i.is_main_variant]
        items.sort(key=lambda i: i.id, reverse=True)
        extended = params.get("extended") == "1"
        page = items[offset : offset + count]
        return {"count": len(items), "items": [self._item_json(i, extended, ctx.vk_base) for i in page]}

    def _market_get_by_id(self, params: dict[str, str], ctx: _Ctx) -> dict:
        """Ids as "-gid_itemid"; removed items come back with availability 1, unknown ones are skipped."""
        raw = params.get("item_ids", "").strip()
        if not raw:
            raise _invalid("item_ids is undefined")
        refs = [part.strip() for part in raw.split(",") if part.strip()]
        if len(refs) > 100:
            raise _invalid("item_ids should contain at most 100 ids")
        extended = params.get("extended") == "1"
        found = []
        for ref in refs:
            owner, sep, item_id = ref.partition("_")
            if not sep or not owner.lstrip("-").isdigit() or not item_id.isdigit():
                raise _invalid(f"item_ids: bad id {ref!r}")
            item = self._items.get(int(item_id))
            if item is None or item.owner_id != int(owner):
                continue
            community = self._communities.get(-item.owner_id)
            if community is None or not community.market_enabled:
                continue
            found.append(self._item_json(item, extended, ctx.vk_base))
        return {"count": len(found), "items": found}

    def _market_get_albums(self, params: dict[str, str], ctx: _Ctx) -> dict:
        community = self._community_by_owner(params, ctx, write=False)
        count = self._int(params, "count", default=50)
        offset = self._int(params, "offset", default=0)
        if not 0 <= count <= 100:
            raise _invalid("count should be in range 0..100")
        albums = sorted((a for (gid, _), a in self._albums.items() if gid == community.id), key=lambda a: a.id)
        return {"count": len(albums), "items": [self._album_json(a) for a in albums[offset : offset + count]]}

    def _market_get_album_by_id(self, params: dict[str, str], ctx: _Ctx) -> dict:
        community = self._community_by_owner(params, ctx, write=False)
        ids = self._int_list(params, "album_ids")
        albums = [self._albums[(community.id, i)] for i in ids if (community.id, i) in self._albums]
        return {"count": len(albums), "items": [self._album_json(a) for a in albums]}

    def _market_get_categories(self, params: dict[str, str], ctx: _Ctx) -> dict:
        return {"count": len(CATEGORY_TREE), "items": copy.deepcopy(CATEGORY_TREE)}

    # ------------------------------------------------------------------ market item writes
    def _validated_fields(self, params: dict[str, str], community: _Community, item_id: int | None) -> dict:
        """Check every market.add/edit field present in ``params``; returns the values to store."""
        out: dict[str, Any] = {}
        if "name" in params:
            name = params["name"]
            if not 4 <= len(name) <= 100:
                raise _invalid("name should be from 4 to 100 characters long")
            out["title"] = name
        if "description" in params:
            description = params["description"]
            if len(description) < 10:
                raise _invalid("description should be at least 10 characters long")
            out["description"] = description
        if "category_id" in params:
            category_id = self._int(params, "category_id", required=True)
            if category_id <= 0:
                raise _invalid("category_id is invalid")
            out["category_id"] = category_id
        if "price" in params:
            out["price_kopecks"] = self._price(params, "price")
        if params.get("old_price", "").strip():
            out["old_price_kopecks"] = self._price(params, "old_price")
        if "deleted" in params:
            if params["deleted"] not in ("0", "1"):
                raise _invalid("deleted should be 0 or 1")
            out["unavailable"] = params["deleted"] == "1"
        if "sku" in params:
            if len(params["sku"]) > 50:
                raise _invalid("sku should be at most 50 characters long")
            out["sku"] = params["sku"] or None
        if params.get("stock_amount", "").strip():
            stock = self._int(params, "stock_amount")
            if not -1 <= stock <= 999999:
                raise _invalid("stock_amount should be a whole number from -1 to 999999")
            out["stock_amount"] = stock
        if "url" in params:
            out["url"] = params["url"] or None
        if params.get("main_photo_id", "").strip():
            out["main_photo_id"] = self._int(params, "main_photo_id")
        if "photo_ids" in params:
            photo_ids = self._int_list(params, "photo_ids", required=False)
            if len(photo_ids) > 4:
                raise _invalid("photo_ids should contain at most 4 ids")
            out["photo_ids"] = photo_ids
        if "variant_ids" in params:
            out["variant_ids"] = self._validated_variant_ids(params, community)
        for photo_id in [out.get("main_photo_id"), *out.get("photo_ids", [])]:
            if photo_id is None:
                continue
            photo = self._photos.get(photo_id)
            if (
                photo is None
                or photo.owner_id != -community.id
                or (photo.item_id is not None and photo.item_id != item_id)
            ):
                raise _invalid("photo not found or already assigned to another item")
        return out

    def _attach_photos(self, item: _Item) -> None:
        for photo_id in [item.main_photo_id, *item.photo_ids]:
            self._photos[photo_id].item_id = item.id

    def _market_add(self, params: dict[str, str], ctx: _Ctx) -> dict:
        community = self._community_by_owner(params, ctx, write=True)
        for required in ("name", "description", "category_id", "price", "main_photo_id"):
            if not params.get(required, "").strip():
                raise _invalid(f"{required} is undefined")
        fields = self._validated_fields(params, community, item_id=None)
        if len(self._live_items(community)) >= community.max_items:
            raise VkApiError(1405)
        now = int(time.time())
        extra = [p for p in dict.fromkeys(fields.pop("photo_ids", [])) if p != fields["main_photo_id"]]
        item = _Item(id=self._next_item_id, owner_id=-community.id, date=now, updated=now, photo_ids=extra, **fields)
        self._next_item_id += 1
        self._items[item.id] = item
        self._count_sku(item, 1)
        self._attach_photos(item)
        return {"market_item_id": item.id}

    def _market_edit(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        item = self._item(community, self._int(params, "item_id", required=True))
        fields = self._validated_fields(params, community, item_id=item.id)
        if "variant_ids" in fields:
            self._check_grouped_edit(item, fields["variant_ids"])
        self._count_sku(item, -1)
        for key, value in fields.items():
            setattr(item, key, value)
        self._count_sku(item, 1)
        item.reject_info = None  # back to moderation, which the emulator passes
        item.photo_ids = [p for p in dict.fromkeys(item.photo_ids) if p != item.main_photo_id]
        item.updated = int(time.time())
        self._attach_photos(item)
        return 1

    def _market_delete(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        item = self._item(community, self._int(params, "item_id", required=True))
        self._set_removed(item, True)
        self._leave_grouping(item)
        item.updated = int(time.time())
        return 1

    def _market_restore(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        item = self._items.get(self._int(params, "item_id", required=True))
        if item is None or item.owner_id != -community.id:
            raise VkApiError(1403)
        if not item.removed:
            raise VkApiError(1518)
        if not item.restorable:
            raise VkApiError(1400)
        if len(self._live_items(community)) >= community.max_items:
            raise VkApiError(1405)
        self._set_removed(item, False)
        item.updated = int(time.time())
        return 1

    # ------------------------------------------------------------------ albums
    def _market_add_album(self, params: dict[str, str], ctx: _Ctx) -> dict:
        community = self._community_by_owner(params, ctx, write=True)
        title = self._album_title(params)
        count = sum(1 for gid, _ in self._albums if gid == community.id)
        if count >= community.max_albums:
            raise VkApiError(1407)
        album = _Album(
            id=community.next_album_id,
            owner_id=-community.id,
            title=title,
            is_main=params.get("main_album") == "1",
            is_hidden=params.get("is_hidden") == "1",
            photo_id=self._int(params, "photo_id") if params.get("photo_id", "").strip() else None,
            updated_time=int(time.time()),
        )
        community.next_album_id += 1
        self._albums[(community.id, album.id)] = album
        return {"market_album_id": album.id, "albums_count": count + 1}

    @staticmethod
    def _album_title(params: dict[str, str]) -> str:
        title = params.get("title", "")
        if not title.strip():
            raise _invalid("title is undefined")
        if len(title) > 128:
            raise _invalid("title should be at most 128 characters long")
        return title

    def _market_edit_album(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        album = self._album(community, self._int(params, "album_id", required=True))
        album.title = self._album_title(params)
        if "main_album" in params:
            album.is_main = params["main_album"] == "1"
        if "is_hidden" in params:
            album.is_hidden = params["is_hidden"] == "1"
        album.updated_time = int(time.time())
        return 1

    def _market_delete_album(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        album = self._album(community, self._int(params, "album_id", required=True))
        del self._albums[(community.id, album.id)]
        for item in self._items.values():
            if item.owner_id == -community.id and album.id in item.albums_ids:
                item.albums_ids.remove(album.id)
        return 1

    def _market_add_to_album(self, params: dict[str, str], ctx: _Ctx) -> int:
        """All-or-nothing: every (item, album) pair is checked before any is applied."""
        community = self._community_by_owner(params, ctx, write=True)
        key = "item_ids" if params.get("item_ids", "").strip() else "item_id"
        items = [self._item(community, i) for i in self._int_list(params, key)]
        albums = [self._album(community, a) for a in self._int_list(params, "album_ids")]
        for album in albums:
            for item in items:
                if album.id in item.albums_ids:
                    raise VkApiError(1404)
            if self._album_size(community, album.id) + len(items) > community.max_items_in_album:
                raise VkApiError(1406)
        for album in albums:
            for item in items:
                item.albums_ids.append(album.id)
        return 1

    def _market_remove_from_album(self, params: dict[str, str], ctx: _Ctx) -> int:
        community = self._community_by_owner(params, ctx, write=True)
        item = self._item(community, self._int(params, "item_id", required=True))
        albums = [self._album(community, a) for a in self._int_list(params, "album_ids")]
        for album in albums:
            if album.id in item.albums_ids:
                item.albums_ids.remove(album.id)
        return 1

    # ------------------------------------------------------------------ photos
    def _get_upload_server(self, params: dict[str, str], ctx: _Ctx) -> dict:
        group_id = self._int(params, "group_id", required=True)
        if group_id <= 0:
            raise _invalid("group_id should be positive")
        community = self._community_checked(group_id, ctx, write=True)
        key = secrets.token_urlsafe(12)
        self._upload_servers[key] = community.id
        return {"upload_url": f"{ctx.vk_base}/upload/product_photo?k={key}"}

    def receive_upload(self, key: str, data: bytes | None) -> dict:
        """The upload server: check the file like VK does and answer the JSON to pass to save*."""
        with self.lock:
            self._stats["uploads"] += 1
            group_id = self._upload_servers.get(key)
        if group_id is None:
            return {"error": "ERR_UPLOAD_BAD_URL: upload url is invalid or expired"}
        if not data:
            return {"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: file not uploaded"}
        if len(data) > MAX_PHOTO_BYTES:
            return {"error": "ERR_UPLOAD_FILE_TOO_BIG: file is larger than 50 MB"}
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            return {"error": "ERR_UPLOAD_BAD_IMAGE_FORMAT: file is not a JPG, PNG or GIF image"}
        mimetypes = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
        if image_format not in mimetypes:
            return {"error": "ERR_UPLOAD_BAD_IMAGE_FORMAT: file is not a JPG, PNG or GIF image"}
        if width < MIN_PHOTO_SIDE or height < MIN_PHOTO_SIDE or width + height > MAX_PHOTO_SIDES_SUM:
            return {
                "error": "ERR_UPLOAD_BAD_IMAGE_SIZE: market photo min size "
                f"{MIN_PHOTO_SIDE}x{MIN_PHOTO_SIDE}, width+height <= {MAX_PHOTO_SIDES_SUM}; "
                f"got {width}x{height}"
            }
        photo_key = secrets.token_hex(16)
        upload = _Upload(group_id, width, height, mimetypes[image_format], data, hash=secrets.token_hex(16))
        with self.lock:
            self._uploads[photo_key] = upload
        return {
            "server": 606,
            "photo": photo_key,
            "hash": upload.hash,
            "group_id": group_id,
            "crop_data": "",
            "crop_hash": "",
        }

    def _save_upload(self, photo_key: str, hash_: str, ctx: _Ctx, group_id: int | None) -> _Photo:
        upload = self._uploads.get(photo_key)
        if upload is None or upload.hash != hash_ or upload.saved:
            raise _invalid("upload_response is invalid or already saved")
        if group_id is not None and group_id != upload.group_id:
            raise _invalid("group_id does not match the upload")
        self._community_checked(upload.group_id, ctx, write=True)
        upload.saved = True
        photo = _Photo(
            id=self._next_photo_id,
            owner_id=-upload.group_id,
            width=upload.width,
            height=upload.height,
            mimetype=upload.mimetype,
            data=upload.data,
            date=int(time.time()),
        )
        self._next_photo_id += 1
        self._photos[photo.id] = photo
        return photo

    def _save_product_photo(self, params: dict[str, str], ctx: _Ctx) -> dict:
        raw = params.get("upload_response", "")
        if not raw.strip():
            raise _invalid("upload_response is undefined")
        try:
            upload = json.loads(raw)
        except json.JSONDecodeError:
            raise _invalid("upload_response is not JSON") from None
        if not isinstance(upload, dict) or "error" in upload:
            raise _invalid("upload_response is invalid")
        photo = self._save_upload(str(upload.get("photo", "")), str(upload.get("hash", "")), ctx, None)
        return {"photo_id": photo.id, "photo": self._photo_json(photo, ctx.vk_base)}

    def _save_market_photo_legacy(self, params: dict[str, str], ctx: _Ctx) -> list[dict]:
        group_id = self._int(params, "group_id", required=True)
        for required in ("photo", "server", "hash"):
            if not params.get(required, "").strip():
                raise _invalid(f"{required} is undefined")
        photo = self._save_upload(params["photo"], params["hash"], ctx, group_id)
        return [self._photo_json(photo, ctx.vk_base)]


def _html_error(status: int) -> str:
    title = {500: "500 Internal Server Error", 502: "502 Bad Gateway"}.get(status, str(status))
    return f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr></body></html>"


def _answer(answer: HttpAnswer) -> Response:
    if answer.html is not None:
        return Response(answer.html, status=answer.status, mimetype="text/html")
    response = jsonify(answer.body)
    response.status_code = answer.status
    return response


def create_vk_blueprint(state: VkState) -> Blueprint:
    """Routes of the VK emulator; mount at url_prefix "/vk"."""
    bp = Blueprint("vk_emulator", __name__)

    @bp.route("/method/<name>", methods=["GET", "POST"])
    def method(name: str) -> Response:
        vk_base = request.base_url[: request.base_url.rindex("/method/")]
        params = {key: request.values.get(key, "") for key in request.values}
        first = state.handle_request(name, params, vk_base)
        if isinstance(first, HttpAnswer):
            return _answer(first)
        if first.sleep_before:
            time.sleep(first.sleep_before)  # "timeout"/"slow" faults; never under the lock
        return _answer(state.finish_request(first))

    @bp.route("/upload/product_photo", methods=["POST"])
    def upload_product_photo() -> Response:
        fault = None
        if any(m == "upload" for _, m in state.faults.pending):
            fault = state.faults.draw("upload")  # only faults pushed for "upload" hit the upload server
        if fault == "5xx":
            return Response(_html_error(502), status=502, mimetype="text/html")
        if fault in ("timeout", "slow"):
            time.sleep(state.faults.timeout_seconds if fault == "timeout" else state.faults.slow_seconds)
        file = request.files.get("file")
        result = state.receive_upload(request.args.get("k", ""), file.read() if file else None)
        return jsonify(result)

    @bp.route("/photo/<int:photo_id>")
    def photo_file(photo_id: int) -> Response:
        found = state.photo_file(photo_id)
        if found is None:
            return Response("not found", status=404, mimetype="text/plain")
        data, mimetype = found
        return Response(data, mimetype=mimetype)

    return bp
