"""The emulated market.* and groups.* methods, and how their objects are rendered."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from evosync.sandbox.vk_model import (
    _CATEGORIES,
    _OTHER_SECTION,
    CATEGORY_TREE,
    MARKET_PHOTO_ALBUM_ID,
    VkApiError,
    _Album,
    _Community,
    _Ctx,
    _invalid,
    _Item,
    _Photo,
    format_price,
)

log = logging.getLogger(__name__)


class MarketMixin:
    """A part of VkState (evosync/sandbox/vk.py): it uses the state's lock and records."""

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
            items += [i for i in self._items_in(community.id) if i.removed and i.restorable]
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
        self._items_of.setdefault(community.id, {})[item.id] = item
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
        for item in self._items_in(community.id):
            if album.id in item.albums_ids:
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
