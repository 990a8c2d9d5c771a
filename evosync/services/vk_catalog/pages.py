"""The reads behind the VK market pages: albums, a page of items, card sizes, moderation; links to vk.com."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from ...extensions import db
from ...models import SyncLink, VkCachedAlbum, VkCachedProduct

log = logging.getLogger(__name__)

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


NO_ALBUM = 0  # the album id the pages use for "items in no album"
ALL_ITEMS = None


@dataclass
class VkProductPage:
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


def products_page(user_id: int, vk_album_id: int | None, page: int = 1, per_page: int = 24) -> VkProductPage:
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
    return VkProductPage(
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
