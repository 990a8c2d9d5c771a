"""Which VK item belongs to which product (never one item to two products, never two creates of one product), and
what leaves VK: duplicates and removals by the merchant's setting. Pure: no I/O."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable

from . import mapping
from .plan_model import (
    AVAILABLE,
    N_,
    REMOVED,
    UNAVAILABLE,
    Key,
    Link,
    Plan,
    Remove,
    Settings,
    VkItem,
)


class Ownership:
    """Which VK items belong to which product: each item to at most one, the best candidate first.

    - An item carrying a sku belongs to the product with that sku, or to nobody (another product's sku
      outranks any link of ours that points at it; a sku we do not know is not ours to touch).
    - An item without a sku (VK may leave it out of its answers) belongs to the product whose link holds its
      id, or whose saved photo is its main photo, confirmed by our title or photo: ids are reused when the
      sandbox restarts, and a photo id can only ever serve one item.
    - Dead items (too late to restore) belong to nobody.
    Order of a product's items: live before removed-but-restorable, then the linked one, then available,
    hidden (2), hidden (1), then the oldest id.
    """

    def __init__(self, items: Iterable[VkItem], links: dict[Key, Link], key_by_sku: dict[str, Key], desired):
        self.links = links
        self.desired = desired
        self.photo_owner: dict[int, Key] = {}
        self.keys_by_item: dict[int, list[Key]] = defaultdict(list)
        for key in sorted(links):
            link = links[key]
            if link.vk_item_id:
                self.keys_by_item[link.vk_item_id].append(key)
            for photo_id in self._photos(link):
                self.photo_owner.setdefault(photo_id, key)
        by_key: dict[Key, list[VkItem]] = defaultdict(list)
        for item in items:
            if item.dead:
                continue
            key = self._owner(item, key_by_sku)
            if key is not None:
                by_key[key].append(item)
        rank = {AVAILABLE: 0, UNAVAILABLE: 1, REMOVED: 2}
        for key, owned in by_key.items():
            link = links.get(key)
            linked = link.vk_item_id if link else None
            owned.sort(key=lambda i: (i.restorable, i.item_id != linked, rank.get(i.availability, 3), i.item_id))
        self.items_by_key = dict(by_key)

    @staticmethod
    def _photos(link: Link) -> set[int]:
        photos = {link.vk_photo_id, (link.pushed or {}).get("main_photo_id")}
        return {int(p) for p in photos if p}

    def _titles(self, key: Key) -> set[str]:
        titles = set()
        if key in self.desired:
            titles.add(self.desired[key].title)
        pushed = self.links[key].pushed if key in self.links else None
        if pushed and pushed.get("name"):
            titles.add(pushed["name"])
        return titles

    def _owner(self, item: VkItem, key_by_sku: dict[str, Key]) -> Key | None:
        if item.sku:
            return key_by_sku.get(item.sku) if mapping.is_our_sku(item.sku) else None
        title = html.unescape(item.title or "")
        claims: list[tuple[int, Key]] = []
        for key in self.keys_by_item.get(item.item_id, ()):
            photo_ok = bool(item.main_photo_id) and item.main_photo_id in self._photos(self.links[key])
            title_ok = title in self._titles(key)
            if photo_ok or title_ok:
                claims.append((1 + photo_ok + title_ok, key))
        photo_key = self.photo_owner.get(item.main_photo_id) if item.main_photo_id else None
        if photo_key is not None and title in self._titles(photo_key):
            claims.append((2, photo_key))
        if not claims:
            return None
        best = max(score for score, _ in claims)
        return min(key for score, key in claims if score == best)


def remove_duplicates(plan: Plan, key: Key, extras: Iterable[VkItem]) -> None:
    """Copies beyond a product's one item are deleted, whatever the removal setting (we made them)."""
    for extra in extras:
        if not extra.restorable:  # one we removed already stays removed
            plan.removals.append(
                Remove(key, extra.item_id, extra.title, "delete", N_("duplicate copy"), duplicate=True)
            )


def plan_removal(plan: Plan, settings: Settings, key: Key, item: VkItem, reason: str, status: str | None) -> None:
    if settings.removal == "leave":
        return
    if settings.removal == "unavailable":
        # No link (status None): apply has nothing to record, so an item already hidden stays as it is;
        # hiding it again would repeat on every run. Hidden may read as availability 1 or 2 (a reading).
        if item.availability != AVAILABLE and status in ("unavailable", None):
            return
        plan.removals.append(Remove(key, item.item_id, item.title, "hide", reason))
        return
    plan.removals.append(Remove(key, item.item_id, item.title, "delete", reason))
