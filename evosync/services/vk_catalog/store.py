"""Writing a read of the VK market into vk_cached_* (insert, update, delete by VK id), and what it tells."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import sqlalchemy as sa

from ...extensions import db
from ...models import VkCachedAlbum, VkCachedProduct, VkCachedProperty, VkConnection, utcnow
from .read import VARIANTS_OFF_CODES, VkMarketSnapshot
from .rows import album_row, product_row, property_row
from .summary import VkCatalogRefresh

log = logging.getLogger(__name__)


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
