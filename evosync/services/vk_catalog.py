"""The VK catalog mirror: read a merchant's community market (albums and items) into vk_cached_* tables.

Reads go in ``execute`` batches (up to 25 pages per request, one request of the 3/s budget), so an
unchanged catalog of up to ~4,800 items costs one VK request per refresh. Failures stay with the
merchant they belong to: auth errors mark the connection broken, flood control pauses it, a switched
off market is recorded; ``refresh_all_vk_catalogs`` moves on to the next merchant either way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from ..clients.errors import (
    VkAccessDenied,
    VkApiError,
    VkAuthError,
    VkFloodControl,
    VkMarketDisabled,
)
from ..clients.vk import EXECUTE_MAX_CALLS, VkCall, VkClient
from ..extensions import db
from ..models import (
    ConnectionState,
    SyncLink,
    VkCachedAlbum,
    VkCachedProduct,
    VkCachedProperty,
    VkConnection,
    utcnow,
)
from ..redis_conn import get_redis
from .connections import record_failure, record_success, vk_client_for

log = logging.getLogger(__name__)

ITEMS_PAGE = 200  # market.get's maximum count
ALBUMS_PAGE = 100  # market.getAlbums' maximum count
READ_ATTEMPTS = 3  # re-reads when the catalog changed between pages (counts disagree)
EXECUTE_TOO_BIG = 13  # VKScript runtime error, e.g. "response size is too big": send fewer pages per request
FLOOD_CONTROL_PAUSE = dt.timedelta(minutes=10)  # error 9
RATE_LIMIT_REACHED_PAUSE = dt.timedelta(hours=1)  # error 29: a daily method limit
PREFERRED_PHOTO_WIDTH = 400  # the smallest VK photo size at least this wide is shown on the pages
LOCK_SECONDS = 600
# A second caller (a sync pass while "Refresh now" runs) waits for the first, then reads again (cheap).
LOCK_WAIT_SECONDS = 120
STATUS_KEY = "evosync:vk_catalog:last_refresh:{user_id}"
LOCK_KEY = "evosync:lock:vk_catalog:{user_id}"


# --------------------------------------------------------------------------------------------- results


@dataclass
class VkCatalogRefresh:
    """What one merchant's refresh did; ``status`` is ok, skipped or failed, ``message`` is for people."""

    user_id: int
    status: str = "ok"
    reason: str = "ok"  # a key of ``explain``: the page words it in the reader's language
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    error_code: int | None = None
    albums: int = 0
    products: int = 0
    products_added: int = 0
    products_updated: int = 0
    products_removed: int = 0
    albums_added: int = 0
    albums_updated: int = 0
    albums_removed: int = 0
    vk_requests: int = 0
    vk_calls: int = 0
    finished_at: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VkMarketSnapshot:
    """Every album and item of one community as VK answered; ``consistent`` when all pages agreed on counts."""

    albums: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    consistent: bool = True
    calls: int = 0
    # market.getProperties: the community's properties, or None when VK did not answer them (see ``properties_error``)
    properties: list[dict] | None = None
    properties_error: int | None = None


# --------------------------------------------------------------------------------------------- reading


def _albums_call(owner_id: int, offset: int) -> VkCall:
    return VkCall(
        "market.getAlbums", {"owner_id": owner_id, "offset": offset, "count": ALBUMS_PAGE}, ("albums", offset)
    )


def _items_call(owner_id: int, offset: int) -> VkCall:
    # with_disabled=1: VK leaves out items marked unavailable otherwise; the mirror must show them.
    # need_variants=1: VK may return only each card's main variant otherwise (a reading, docs/VK_READINGS.md).
    params = {
        "owner_id": owner_id,
        "offset": offset,
        "count": ITEMS_PAGE,
        "extended": 1,
        "with_disabled": 1,
        "need_variants": 1,
    }
    return VkCall("market.get", params, ("items", offset))


def _properties_call(group_id: int) -> VkCall:
    return VkCall("market.getProperties", {"group_id": abs(group_id)}, ("properties", 0))


VARIANTS_OFF_CODES = (1409, 1410)  # the community's products are not in extended mode


def _run_pages(client: VkClient, calls: Sequence[VkCall], per_request: int) -> dict[tuple[str, int], dict]:
    """Send page reads as execute batches of ``per_request``; answers by tag. Any failed call raises."""
    answers: dict[tuple[str, int], dict] = {}
    for start in range(0, len(calls), per_request):
        chunk = list(calls[start : start + per_request])
        try:
            results = client.execute_batch(chunk)
        except VkApiError as exc:
            if exc.code != EXECUTE_TOO_BIG or len(chunk) == 1:
                raise
            # The answer was too large for one execute: split the chunk and try the halves.
            log.info("vk execute too big with %d pages, splitting", len(chunk))
            answers.update(_run_pages(client, chunk, max(1, len(chunk) // 2)))
            continue
        for result in results:
            if result.call.tag[0] == "properties":  # its refusal says the mode is off; never fails the read
                answers[result.call.tag] = {"error": result.error} if not result.ok else {"value": result.value}
                continue
            if not result.ok:
                raise result.error
            value = result.value
            if not isinstance(value, dict) or not isinstance(value.get("items"), list):
                raise VkApiError(1, "page answered without an items list", result.call.method)
            answers[result.call.tag] = value
    return answers


def read_vk_market(
    client: VkClient, group_id: int, expected_items: int = 0, pages_per_request: int = EXECUTE_MAX_CALLS
) -> VkMarketSnapshot:
    """Read every album and item (unavailable ones included) of community ``group_id``.

    The first request asks for the albums and as many item pages as ``expected_items`` (the size of the
    last mirror) suggests, so an unchanged catalog needs a single request; what is left follows in
    further batches. If counts disagree between pages (the catalog changed under us), read again.
    """
    owner_id = -abs(group_id)
    per_request = max(1, min(EXECUTE_MAX_CALLS, pages_per_request))
    snapshot = VkMarketSnapshot()
    properties_answer: dict | None = None
    for attempt in range(READ_ATTEMPTS):
        first_pages = max(1, min(per_request - 1, math.ceil((expected_items + 1) / ITEMS_PAGE)))
        calls = [_albums_call(owner_id, 0)] + [_items_call(owner_id, i * ITEMS_PAGE) for i in range(first_pages)]
        # The community's properties (and so its extended mode) ride along in a batch with room: no request of
        # their own unless every batch is full (never with one page per request, a guard against answer size).
        want_properties = attempt == 0
        if want_properties and len(calls) < per_request:
            calls.append(_properties_call(group_id))
            want_properties = False
        answers = _run_pages(client, calls, per_request)
        album_total = int(answers[("albums", 0)].get("count") or 0)
        item_total = int(answers[("items", 0)].get("count") or 0)
        more = [_albums_call(owner_id, o) for o in range(ALBUMS_PAGE, album_total, ALBUMS_PAGE)]
        more += [_items_call(owner_id, o) for o in range(first_pages * ITEMS_PAGE, item_total, ITEMS_PAGE)]
        if want_properties and per_request > 1:
            more.append(_properties_call(group_id))
        if more:
            answers.update(_run_pages(client, more, per_request))
        properties_answer = answers.pop(("properties", 0), None) or properties_answer
        snapshot = VkMarketSnapshot(
            albums=_unique(answers, "albums"),
            items=_unique(answers, "items"),
            consistent=_counts_agree(answers),
            calls=snapshot.calls + len(calls) + len(more),
        )
        if snapshot.consistent:
            break
        log.info("vk market of %s changed while reading (attempt %d), reading again", group_id, attempt + 1)
        expected_items = len(snapshot.items)
    _read_properties(snapshot, properties_answer)
    return snapshot


def _read_properties(snapshot: VkMarketSnapshot, answer: dict | None) -> None:
    if answer is None:
        return
    error = answer.get("error")
    if error is not None:
        snapshot.properties_error = getattr(error, "code", 1)
        return
    value = answer.get("value")
    items = value.get("items") if isinstance(value, dict) else None
    if isinstance(items, list):
        snapshot.properties = [p for p in items if isinstance(p, dict) and "id" in p]


def _unique(answers: dict[tuple[str, int], dict], kind: str) -> list[dict]:
    """The kind's rows in page order, each id once (an item added mid-read shifts pages by one)."""
    seen: set[int] = set()
    rows = []
    for (tag_kind, _offset), page in sorted(answers.items()):
        if tag_kind != kind:
            continue
        for row in page["items"]:
            if isinstance(row, dict) and "id" in row and int(row["id"]) not in seen:
                seen.add(int(row["id"]))
                rows.append(row)
    return rows


def _counts_agree(answers: dict[tuple[str, int], dict]) -> bool:
    for kind in ("albums", "items"):
        counts = {int(page.get("count") or 0) for (k, _), page in answers.items() if k == kind}
        if len(counts) > 1:
            return False
    items = _unique(answers, "items")
    item_total = int(answers[("items", 0)].get("count") or 0)
    return len(items) >= item_total


# --------------------------------------------------------------------------------------------- mapping


def price_from_vk(price: Any) -> Decimal:
    """Rubles from VK's price object (``amount`` is a string in kopecks); 0 when missing or unreadable."""
    amount = price.get("amount") if isinstance(price, dict) else None
    try:
        kopecks = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return Decimal("0.00")
    if not kopecks.is_finite():
        return Decimal("0.00")
    return (kopecks / 100).quantize(Decimal("0.01"))


def photo_url_from_vk(photo: Any) -> str | None:
    """The URL of the smallest size at least PREFERRED_PHOTO_WIDTH wide (else the largest) of a photo object."""
    sizes = photo.get("sizes") if isinstance(photo, dict) else None
    if not isinstance(sizes, list):
        return None
    usable = [s for s in sizes if isinstance(s, dict) and s.get("url")]
    if not usable:
        return None
    usable.sort(key=lambda s: int(s.get("width") or 0))
    wide = [s for s in usable if int(s.get("width") or 0) >= PREFERRED_PHOTO_WIDTH]
    return str((wide[0] if wide else usable[-1])["url"])


def _fit(value: Any, length: int) -> str:
    return ("" if value is None else str(value))[:length]


def _url_or_none(url: str | None) -> str | None:
    return url if url and len(url) <= 1024 else None


def product_row(item: dict, group_id: int) -> dict[str, Any]:
    """The vk_cached_products columns for one market.get item (extended)."""
    photos = item.get("photos") if isinstance(item.get("photos"), list) else []
    photo_url = photo_url_from_vk(photos[0]) if photos else None
    main_photo_id = photos[0].get("id") if photos and isinstance(photos[0], dict) else None
    category = item.get("category") if isinstance(item.get("category"), dict) else {}
    sku = item.get("sku")
    album_ids = item.get("albums_ids") if isinstance(item.get("albums_ids"), list) else []
    return {
        "group_id": group_id,
        "vk_item_id": int(item["id"]),
        "title": _fit(item.get("title"), 255),
        "description": str(item.get("description") or ""),
        "price": price_from_vk(item.get("price")),
        "availability": int(item.get("availability") or 0),
        "sku": _fit(sku, 64) if sku not in (None, "") else None,
        "category_id": int(category["id"]) if category.get("id") is not None else None,
        "album_ids": sorted({int(a) for a in album_ids}),
        "photo_url": _url_or_none(photo_url or item.get("thumb_photo")),
        "main_photo_id": int(main_photo_id) if isinstance(main_photo_id, int) else None,
        "reject_reason": reject_reason(item.get("reject_info")),
        "grouping_id": _grouping_id(item),
    }


def _grouping_id(item: dict) -> int | None:
    value = item.get("variants_grouping_id") or item.get("item_group_id")
    try:
        return int(value) if value else None
    except (TypeError, ValueError):
        return None


def property_row(prop: dict, group_id: int) -> dict[str, Any]:
    """The vk_cached_properties columns for one market.getProperties item."""
    variants = {}
    for variant in prop.get("variants") or ():
        if isinstance(variant, dict) and variant.get("id") is not None:
            variants.setdefault(str(variant.get("title") or variant.get("value") or ""), int(variant["id"]))
    return {
        "group_id": group_id,
        "vk_property_id": int(prop["id"]),
        "title": _fit(prop.get("title"), 255),
        "variants": variants,
    }


def reject_reason(info: Any) -> str | None:
    """VK's moderation verdict on an item (``reject_info``: title, description) as one line, or None."""
    if not isinstance(info, dict):
        return None
    parts = [str(info.get(key) or "").strip() for key in ("title", "description")]
    text = " — ".join(part for part in parts if part)
    return text[:1000] if text else None


def album_row(album: dict, group_id: int, cover_by_album: dict[int, str]) -> dict[str, Any]:
    """The vk_cached_albums columns for one market.getAlbums item; cover from VK, else its first item's photo."""
    album_id = int(album["id"])
    return {
        "group_id": group_id,
        "vk_album_id": album_id,
        "title": _fit(album.get("title"), 255),
        "item_count": int(album.get("count") or 0),
        "photo_url": _url_or_none(photo_url_from_vk(album.get("photo")) or cover_by_album.get(album_id)),
        "is_main": bool(album.get("is_main")),
        "is_hidden": bool(album.get("is_hidden")),
    }


# --------------------------------------------------------------------------------------------- storing

_PRODUCT_FIELDS = (
    "group_id",
    "title",
    "description",
    "price",
    "availability",
    "sku",
    "category_id",
    "album_ids",
    "photo_url",
    "main_photo_id",
    "reject_reason",
    "grouping_id",
)
_PROPERTY_FIELDS = ("group_id", "title", "variants")
_ALBUM_FIELDS = ("group_id", "title", "item_count", "photo_url", "is_main", "is_hidden")


def _store(model, key: str, fields: Sequence[str], user_id: int, rows: Iterable[dict]) -> tuple[int, int, int]:
    """Make the user's rows of ``model`` equal ``rows`` (keyed by ``key``): bulk insert/update/delete.

    Only changed rows are written. Returns (added, updated, removed).
    """
    columns = [model.id, getattr(model, key), *(getattr(model, f) for f in fields)]
    existing = {r[1]: r for r in db.session.execute(sa.select(*columns).where(model.user_id == user_id))}
    now = utcnow()
    inserts, updates, seen = [], [], set()
    for row in rows:
        seen.add(row[key])
        old = existing.get(row[key])
        if old is None:
            inserts.append({**row, "user_id": user_id, "refreshed_at": now})
        elif any(getattr(old, f) != row[f] for f in fields):
            updates.append({**row, "id": old.id, "refreshed_at": now})
    gone = [old.id for k, old in existing.items() if k not in seen]
    if inserts:
        db.session.execute(sa.insert(model), inserts)
    if updates:
        db.session.execute(sa.update(model), updates)
    for start in range(0, len(gone), 500):
        db.session.execute(sa.delete(model).where(model.id.in_(gone[start : start + 500])))
    return len(inserts), len(updates), len(gone)


def store_snapshot(user_id: int, group_id: int, snapshot: VkMarketSnapshot, summary: VkCatalogRefresh) -> None:
    """Write the snapshot into the user's mirror (no commit). Vanished rows go only after a consistent read.

    Every item VK returns is kept, whatever its availability: an item hidden with ``deleted=1`` may come back
    as 1 ("removed") or 2 ("unavailable"), and a removed one may still be returned until it can no longer be
    restored (docs/VK_READINGS.md). The sync plan needs them all to never create an item twice.
    """
    products = [product_row(item, group_id) for item in snapshot.items]
    cover_by_album: dict[int, str] = {}
    for row in products:
        if row["availability"] == 1:
            continue
        for album_id in row["album_ids"]:
            if row["photo_url"]:
                cover_by_album.setdefault(album_id, row["photo_url"])
    albums = [album_row(album, group_id, cover_by_album) for album in snapshot.albums]
    if not snapshot.consistent:
        # Pages disagreed three times: keep what we have rather than drop rows we may simply have missed.
        known = {p["vk_item_id"] for p in products}
        products += _kept_rows(VkCachedProduct, "vk_item_id", _PRODUCT_FIELDS, user_id, known)
    summary.products_added, summary.products_updated, summary.products_removed = _store(
        VkCachedProduct, "vk_item_id", _PRODUCT_FIELDS, user_id, products
    )
    summary.albums_added, summary.albums_updated, summary.albums_removed = _store(
        VkCachedAlbum, "vk_album_id", _ALBUM_FIELDS, user_id, albums
    )
    # A removal mark means "VK still returns it as removed"; an item shown again (restored by anyone) sheds it.
    db.session.execute(
        sa.update(VkCachedProduct)
        .where(
            VkCachedProduct.user_id == user_id,
            VkCachedProduct.availability != 1,
            VkCachedProduct.removal.is_not(None),
        )
        .values(removal=None)
    )
    summary.products = len(products)
    summary.albums = len(albums)
    if snapshot.properties is not None:
        _store(
            VkCachedProperty,
            "vk_property_id",
            _PROPERTY_FIELDS,
            user_id,
            [property_row(prop, group_id) for prop in snapshot.properties],
        )


def note_variants_mode(conn: VkConnection, snapshot: VkMarketSnapshot) -> None:
    """What the read says of the community's extended products mode (needed for VK variants).

    A refused market.getProperties (1409/1410) means off. An answer listing properties means on. An empty answer
    means on too, unless a write was refused for the mode ("off-write": VK may answer the read while the mode is
    off, a reading); then the runner probes with the one write it needs anyway (services/sync/runner.py).
    """
    if snapshot.properties_error in VARIANTS_OFF_CODES:
        mode = "off"
    elif snapshot.properties is None:
        return  # not read (a passing failure): nothing learnt
    elif snapshot.properties or conn.variants_mode != "off-write":
        mode = "on"
    else:
        return
    if conn.variants_mode != mode:
        conn.variants_mode, conn.variants_mode_at = mode, utcnow()


def _kept_rows(model, key: str, fields: Sequence[str], user_id: int, known: set[int]) -> list[dict]:
    columns = [getattr(model, key), *(getattr(model, f) for f in fields)]
    rows = db.session.execute(sa.select(*columns).where(model.user_id == user_id))
    return [dict(zip((key, *fields), r, strict=True)) for r in rows if r[0] not in known]


# --------------------------------------------------------------------------------------------- moderation

REJECTED_SHOWN = 50


def rejected_items(user_id: int, limit: int = REJECTED_SHOWN) -> list[VkCachedProduct]:
    """Items of the merchant's community that VK's moderators rejected or blocked (newest first)."""
    return list(
        db.session.scalars(
            sa.select(VkCachedProduct)
            .where(VkCachedProduct.user_id == user_id, VkCachedProduct.reject_reason.is_not(None))
            .order_by(VkCachedProduct.vk_item_id.desc())
            .limit(limit)
        )
    )


def ask_moderation_again(user_id: int, vk_item_id: int) -> bool:
    """The merchant asks to send a rejected item of ours to VK's moderation again: its next sync rewrites it.

    Returns False when the item is not one EvoSync manages for this merchant.
    """
    link = db.session.scalar(sa.select(SyncLink).filter_by(user_id=user_id, vk_item_id=vk_item_id))
    if link is None:
        return False
    link.content_hash = None  # "what VK has is not what we want": the plan sends the item again
    db.session.commit()
    log.info("moderation retry requested", extra={"user_id": user_id, "vk_item_id": vk_item_id})
    return True


# --------------------------------------------------------------------------------------------- status


def last_refresh(user_id: int) -> dict | None:
    """The summary of the user's last refresh (as ``VkCatalogRefresh.as_dict``), or None if none is known."""
    raw = get_redis().get(STATUS_KEY.format(user_id=user_id))
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _remember(summary: VkCatalogRefresh) -> None:
    summary.finished_at = utcnow().isoformat(timespec="seconds") + "Z"
    try:
        get_redis().set(STATUS_KEY.format(user_id=summary.user_id), json.dumps(summary.as_dict()))
    except Exception:  # noqa: BLE001 - the status line is a convenience; the mirror itself is stored
        log.warning("could not store the vk catalog refresh status", extra={"user_id": summary.user_id})


# --------------------------------------------------------------------------------------------- the service


# Outcome reasons in plain words; lazy so that each reader (page, CLI, job log) gets their own language.
REASON_MESSAGES = {
    "ok": _l("%(albums)s albums and %(products)s products read from VK."),
    "not_connected": _l("VK is not connected yet. Connect your VK community on the Connections page."),
    "broken": _l("The VK connection needs your attention: reconnect VK on the Connections page."),
    "paused": _l("VK asked EvoSync to slow down; VK work for this account is paused until %(until)s UTC."),
    "running": _l("A refresh of your VK catalog is already running."),
    "auth": _l(
        "VK no longer accepts EvoSync's access to your account (it was revoked or has expired). "
        "Reconnect VK on the Connections page."
    ),
    "flood": _l(
        "VK asked EvoSync to slow down (flood control). VK work for this account is paused for "
        "%(minutes)s minutes and resumes by itself."
    ),
    "market_disabled": _l(
        'Products are switched off in your VK community. Turn on "Products" in the community settings '
        "(Manage → Sections), then refresh."
    ),
    "access": _l(
        "VK refused access to the community's products. Make sure the connected VK account is an "
        "administrator of the community."
    ),
    "vk_error": _l("VK did not answer properly; the VK catalog will be refreshed again later."),
    "crashed": _l("Something went wrong while reading your VK catalog; it will be tried again later."),
}


def explain(reason: str, **params: Any) -> str:
    """The plain-words message for a refresh outcome ``reason``, in the current locale."""
    text = str(REASON_MESSAGES.get(reason, REASON_MESSAGES["vk_error"]))
    try:
        return text % params if params else text
    except (KeyError, TypeError, ValueError):  # a translation with a broken placeholder: show it bare
        return text


def _skip_reason(conn: VkConnection | None) -> tuple[str, dict] | None:
    if conn is None or conn.state == ConnectionState.NOT_CONNECTED or not conn.access_token or not conn.group_id:
        return "not_connected", {}
    if conn.state == ConnectionState.BROKEN:
        return "broken", {}
    if conn.paused_until and conn.paused_until > utcnow():
        return "paused", {"until": conn.paused_until.strftime("%Y-%m-%d %H:%M")}
    return None


def _finish(summary: VkCatalogRefresh, status: str, reason: str, **params: Any) -> VkCatalogRefresh:
    summary.status, summary.reason, summary.params = status, reason, params
    summary.message = explain(reason, **params)
    return summary


@contextmanager
def _words_outside_requests() -> Iterator[None]:
    """Jobs and the CLI have no request to choose a language from: word messages in the default one."""
    if has_request_context():
        yield
        return
    with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE") or "ru"):
        yield


def refresh_vk_catalog(user_id: int) -> VkCatalogRefresh:
    """Refresh one merchant's VK mirror; never raises for VK trouble (the summary and connection tell)."""
    with _words_outside_requests():
        return _refresh_vk_catalog(user_id)


def _refresh_vk_catalog(user_id: int) -> VkCatalogRefresh:
    summary = VkCatalogRefresh(user_id=user_id)
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user_id))
    skip = _skip_reason(conn)
    if skip:
        _finish(summary, "skipped", skip[0], **skip[1])
        log.info("vk catalog refresh skipped", extra={"user_id": user_id, "reason": skip[0]})
        _remember(summary)
        return summary
    lock = get_redis().lock(LOCK_KEY.format(user_id=user_id), timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
    if not lock.acquire():
        return _finish(summary, "skipped", "running")
    try:
        _refresh_locked(conn, summary)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - an expired lock is no reason to fail the refresh
            log.warning("vk catalog lock was gone at release", extra={"user_id": user_id})
    _remember(summary)
    return summary


def _refresh_locked(conn: VkConnection, summary: VkCatalogRefresh) -> None:
    user_id, group_id = conn.user_id, int(conn.group_id)
    client = vk_client_for(conn)  # the one factory: token and the Redis-shared limiter
    before = client.requests_made
    expected = db.session.scalar(
        sa.select(sa.func.count()).select_from(VkCachedProduct).where(VkCachedProduct.user_id == user_id)
    )
    per_request = current_app.config.get("VK_CATALOG_PAGES_PER_EXECUTE", EXECUTE_MAX_CALLS)
    try:
        snapshot = read_vk_market(client, group_id, expected_items=expected or 0, pages_per_request=per_request)
    except VkApiError as exc:
        summary.vk_requests = client.requests_made - before
        _record_vk_failure(conn, exc, summary)
        return
    summary.vk_requests = client.requests_made - before
    summary.vk_calls = snapshot.calls
    try:
        store_snapshot(user_id, group_id, snapshot, summary)
        note_variants_mode(conn, snapshot)
        conn.market_enabled = True
        record_success(conn)
    except Exception:
        db.session.rollback()
        raise
    _finish(summary, "ok", "ok", albums=summary.albums, products=summary.products)
    log.info(
        "vk catalog refreshed", extra={k: v for k, v in summary.as_dict().items() if k not in ("message", "params")}
    )


def _record_vk_failure(conn: VkConnection, exc: VkApiError, summary: VkCatalogRefresh) -> None:
    """Word the failure on the summary; on the connection too when the merchant must act or VK said wait.

    The connection's own rules (connections.record_failure) mark it broken on auth / access / market
    errors; flood control (9/29) also pauses the merchant's VK work until ``paused_until``.
    """
    db.session.rollback()
    summary.error_code = exc.code
    params: dict[str, Any] = {}
    if isinstance(exc, VkAuthError):
        reason = "auth"
    elif isinstance(exc, VkFloodControl):
        pause = RATE_LIMIT_REACHED_PAUSE if exc.code == 29 else FLOOD_CONTROL_PAUSE
        conn.paused_until = utcnow() + pause
        reason, params = "flood", {"minutes": int(pause.total_seconds() // 60)}
    elif isinstance(exc, VkMarketDisabled):
        conn.market_enabled = False
        reason = "market_disabled"
    elif isinstance(exc, VkAccessDenied):
        reason = "access"
    else:
        reason = "vk_error"
    _finish(summary, "failed", reason, **params)
    if exc.retryable:  # a passing hiccup (5xx, timeout, 10) says nothing about the connection
        db.session.commit()
    else:
        record_failure(conn, exc)
    log.warning(
        "vk catalog refresh failed",
        extra={"user_id": conn.user_id, "vk_error": exc.code, "vk_method": exc.method, "reason": reason},
    )


def refresh_all_vk_catalogs(user_ids: Iterable[int] | None = None) -> list[VkCatalogRefresh]:
    """Refresh every connected merchant (or the given ones), each on its own: one failing never stops the rest."""
    if user_ids is None:
        user_ids = db.session.scalars(
            sa.select(VkConnection.user_id)
            .where(VkConnection.state == ConnectionState.CONNECTED, VkConnection.group_id.is_not(None))
            .order_by(VkConnection.user_id)
        ).all()
    summaries = []
    with _words_outside_requests():
        for user_id in user_ids:
            try:
                summaries.append(refresh_vk_catalog(user_id))
            except Exception as exc:  # noqa: BLE001 - isolate merchants from each other's surprises
                db.session.rollback()
                log.exception("vk catalog refresh crashed", extra={"user_id": user_id})
                crashed = VkCatalogRefresh(user_id=user_id)
                summaries.append(_finish(crashed, "failed", "crashed", error=type(exc).__name__))
    return summaries


# --------------------------------------------------------------------------------------------- reading the mirror

NO_ALBUM = 0  # the album id the pages use for "items in no album"
ALL_ITEMS = None


@dataclass
class ProductPage:
    """One page of mirrored products plus what the page needs to say about them."""

    items: list[VkCachedProduct]
    total: int
    page: int
    per_page: int
    managed_item_ids: set[int] = field(default_factory=set)
    card_sizes: dict[int, int] = field(default_factory=dict)  # VK card (item group) -> its items

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def mirror_albums(user_id: int) -> list[VkCachedAlbum]:
    """The user's mirrored albums, main album first, then by title."""
    return list(
        db.session.scalars(
            sa.select(VkCachedAlbum)
            .where(VkCachedAlbum.user_id == user_id)
            .order_by(VkCachedAlbum.is_main.desc(), VkCachedAlbum.title, VkCachedAlbum.vk_album_id)
        )
    )


def mirror_album(user_id: int, album_row_id: int) -> VkCachedAlbum | None:
    """One of the user's albums by its row id; None for anyone else's (the page answers 404)."""
    return db.session.scalar(
        sa.select(VkCachedAlbum).where(VkCachedAlbum.id == album_row_id, VkCachedAlbum.user_id == user_id)
    )


def _membership(user_id: int) -> list[tuple[int, list]]:
    """(row id, album ids) of every mirrored product, newest item first (VK's own default order).

    Album membership is a JSON list, which SQLite and MariaDB query differently: filter it here.
    """
    rows = db.session.execute(
        sa.select(VkCachedProduct.id, VkCachedProduct.album_ids)
        .where(VkCachedProduct.user_id == user_id)
        .order_by(VkCachedProduct.vk_item_id.desc())
    )
    return [(row_id, album_ids or []) for row_id, album_ids in rows]


def count_products(user_id: int) -> tuple[int, int]:
    """(all mirrored products, those in no album) of the user."""
    membership = _membership(user_id)
    return len(membership), sum(1 for _row_id, album_ids in membership if not album_ids)


def products_page(user_id: int, vk_album_id: int | None, page: int = 1, per_page: int = 24) -> ProductPage:
    """A page of the user's products: of one VK album, of none (NO_ALBUM), or all (ALL_ITEMS)."""
    page = max(1, page)
    offset = (page - 1) * per_page
    if vk_album_id is ALL_ITEMS:
        total = db.session.scalar(
            sa.select(sa.func.count()).select_from(VkCachedProduct).where(VkCachedProduct.user_id == user_id)
        )
        ids = db.session.scalars(
            sa.select(VkCachedProduct.id)
            .where(VkCachedProduct.user_id == user_id)
            .order_by(VkCachedProduct.vk_item_id.desc())
            .offset(offset)
            .limit(per_page)
        ).all()
    else:
        matching = [
            row_id
            for row_id, album_ids in _membership(user_id)
            if (vk_album_id in album_ids if vk_album_id != NO_ALBUM else not album_ids)
        ]
        total, ids = len(matching), matching[offset : offset + per_page]
    items = (
        list(
            db.session.scalars(
                sa.select(VkCachedProduct)
                .where(VkCachedProduct.id.in_(ids))
                .order_by(VkCachedProduct.vk_item_id.desc())
            )
        )
        if ids
        else []
    )
    return ProductPage(
        items,
        int(total or 0),
        page,
        per_page,
        managed_item_ids(user_id, [p.vk_item_id for p in items]),
        card_sizes(user_id, [p.grouping_id for p in items if p.grouping_id]),
    )


def card_sizes(user_id: int, grouping_ids: Sequence[int]) -> dict[int, int]:
    """How many items each of these VK cards (item groups) holds in the user's mirror."""
    if not grouping_ids:
        return {}
    rows = db.session.execute(
        sa.select(VkCachedProduct.grouping_id, sa.func.count())
        .where(VkCachedProduct.user_id == user_id, VkCachedProduct.grouping_id.in_(set(grouping_ids)))
        .group_by(VkCachedProduct.grouping_id)
    )
    return {int(gid): int(n) for gid, n in rows}


def managed_item_ids(user_id: int, vk_item_ids: Sequence[int]) -> set[int]:
    """Which of these VK items EvoSync made (a sync link of the user points at them)."""
    if not vk_item_ids:
        return set()
    return set(
        db.session.scalars(
            sa.select(SyncLink.vk_item_id).where(SyncLink.user_id == user_id, SyncLink.vk_item_id.in_(vk_item_ids))
        )
    )


def vk_item_url(group_id: int, vk_item_id: int) -> str:
    """The item's page on vk.com."""
    return f"https://vk.com/market-{group_id}?w=product-{group_id}_{vk_item_id}"
