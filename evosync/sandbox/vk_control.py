"""Setting the emulated VK up and looking into it (tests, the demo, the control API): users, tokens,
communities, limits, hand edits, and what VK holds."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterable
from typing import Any

from evosync.sandbox.vk_model import (
    _Community,
    _Item,
    _Token,
)

log = logging.getLogger(__name__)


class ControlMixin:
    """A part of VkState (evosync/sandbox/vk.py): it uses the state's lock and records."""

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
            for item in self._items.values() if group_id is None else self._items_in(group_id):
                if item.removed and item.restorable:
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
                for item in self._items_in(group_id)
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
            return (self._photo_files[photo.digest], photo.mimetype) if photo else None

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
