"""Albums of a plan (a mixin of Applier): created or renamed first, deleted last, and items' memberships."""

from __future__ import annotations

import logging
from collections import defaultdict

from ...clients.errors import VkAlreadyInAlbum, VkItemNotFound, VkLimitReached
from ...clients.vk import VkCall, VkCallResult
from ...extensions import db
from ...models import SyncAlbum
from . import plan_model as p
from .apply_common import SyncStopped, chunks

log = logging.getLogger(__name__)

ALBUM_ADD_MAX_ITEMS = 100


class AlbumsMixin:
    """Needs from the Applier: ``group_id``, ``owner_id``, ``user_id``, ``result``, ``_run``, ``_link``, ``_fail``."""

    def _album(self, album_key: p.AlbumKey) -> SyncAlbum:
        album = self._albums.get(album_key)
        if album is None:
            album = SyncAlbum(
                user_id=self.user_id, store_evotor_id=album_key[0], evotor_group_id=album_key[1], group_id=self.group_id
            )
            db.session.add(album)
            self._albums[album_key] = album
        return album

    def _albums_first(self, plan: p.Plan) -> None:
        calls = [
            VkCall("market.addAlbum", {"owner_id": self.owner_id, "title": op.title}, tag=op)
            for op in plan.album_creates
        ]
        calls += [
            VkCall(
                "market.editAlbum", {"owner_id": self.owner_id, "album_id": op.vk_album_id, "title": op.title}, tag=op
            )
            for op in plan.album_renames
        ]
        for op in plan.album_creates:
            self._album(op.album_key).title = op.title
        db.session.commit()
        self._run(calls, self._album_done)

    def _album_done(self, result: VkCallResult) -> None:
        op = result.call.tag
        if result.error is not None:
            log.warning("album change refused", extra={"user_id": self.user_id, "error": result.error.message})
            if isinstance(result.error, VkLimitReached):
                raise SyncStopped(result.error)
            return
        album = self._album(op.album_key)
        if isinstance(op, p.AlbumCreate):
            album.vk_album_id = int(result.value["market_album_id"])
        album.title, album.group_id = op.title, self.group_id
        self.result.albums_changed += 1

    def _album_deletes(self, plan: p.Plan) -> None:
        calls = []
        for op in plan.album_deletes:
            if op.vk_album_id:
                calls.append(
                    VkCall("market.deleteAlbum", {"owner_id": self.owner_id, "album_id": op.vk_album_id}, tag=op)
                )
            else:
                self._drop_album(op.album_key)
        self._run(calls, self._album_deleted)

    def _album_deleted(self, result: VkCallResult) -> None:
        if result.error is None or result.error.code in (1402,):
            self._drop_album(result.call.tag.album_key)
            self.result.albums_changed += 1

    def _drop_album(self, album_key: p.AlbumKey) -> None:
        album = self._albums.pop(album_key, None)
        if album is not None:
            db.session.delete(album)

    def _memberships(self, plan: p.Plan) -> None:
        removes = [
            VkCall(
                "market.removeFromAlbum",
                {"owner_id": self.owner_id, "item_id": op.vk_item_id, "album_ids": [op.vk_album_id]},
                tag=op,
            )
            for op in plan.album_removes
        ]
        self._run(removes, self._membership_removed)
        by_album: dict[int, list[tuple[p.Key, int]]] = defaultdict(list)
        for op in plan.album_adds:
            album = self._albums.get(op.album_key)
            link = self._links.get(op.key)
            item_id = op.vk_item_id or (link.vk_item_id if link else None)
            if album is None or not album.vk_album_id or not item_id:
                continue  # its album or item did not come to be this pass: the next pass retries
            by_album[int(album.vk_album_id)].append((op.key, int(item_id)))
        calls = []
        for album_id, members in by_album.items():
            for part in chunks(members, ALBUM_ADD_MAX_ITEMS):
                calls.append(
                    VkCall(
                        "market.addToAlbum",
                        {"owner_id": self.owner_id, "item_ids": [item for _, item in part], "album_ids": [album_id]},
                        tag=(album_id, part),
                    )
                )
        self._run(calls, self._membership_added)

    def _membership_removed(self, result: VkCallResult) -> None:
        op: p.AlbumRemove = result.call.tag
        if result.error is None or isinstance(result.error, VkItemNotFound):
            link = self._links.get(op.key) if op.key else None
            if link is not None and link.vk_album_id == op.vk_album_id:
                link.vk_album_id = None
            self.result.albums_changed += 1
        else:
            self.result.uncertain = True

    def _membership_added(self, result: VkCallResult) -> None:
        album_id, members = result.call.tag
        if result.error is not None and not (isinstance(result.error, VkAlreadyInAlbum) and len(members) == 1):
            if isinstance(result.error, VkLimitReached):
                raise SyncStopped(result.error)
            # 1404 for one of several: someone (a lost answer of ours) added part; re-read and re-plan.
            self.result.uncertain = True
            return
        for key, _item in members:
            link = self._links.get(key)
            if link is not None:
                link.vk_album_id = album_id
        self.result.albums_changed += 1
