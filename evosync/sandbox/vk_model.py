"""The VK emulator's data: error texts, limits, the records it keeps (tokens, communities, items, albums, photos,
uploads), its request context and answers, and the error it raises. Shared by every part of the emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from evosync.clients.vk_categories import CATEGORY_TREE
from evosync.sandbox.readings import Readings

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


PHOTO_SAVE_METHODS = frozenset({"market.saveProductPhoto", "photos.saveMarketPhoto"})
BULK_PHOTO_SAVE = "market.saveProductPhotoBulk"  # its own reading for execute: photo_bulk_in_execute

# Fault kinds answered as a VK error for the whole request.
ERROR_FAULTS = {"6": 6, "9": 9, "10": 10}

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
    digest: str  # the file's bytes are kept once per content, in VkState._photo_files
    date: int
    item_id: int | None = None  # once set, never cleared: a photo id serves ONE item


@dataclass
class _Upload:
    """A file received by the upload server, waiting for saveProductPhoto."""

    group_id: int
    width: int
    height: int
    mimetype: str
    digest: str  # the file's bytes are kept once per content, in VkState._photo_files
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


def _html_error(status: int) -> str:
    title = {500: "500 Internal Server Error", 502: "502 Bad Gateway"}.get(status, str(status))
    return f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr></body></html>"
