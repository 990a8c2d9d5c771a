"""VK's answers as rows of the VK mirror: prices, photo URLs, items, properties, albums, moderation reasons."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

PREFERRED_PHOTO_WIDTH = 400  # the smallest VK photo size at least this wide is shown on the pages


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
