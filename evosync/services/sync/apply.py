"""Apply a sync plan to VK: execute batches under the shared limiter, each outcome recorded at once.

Every batch of up to 25 calls is followed by a commit of what it did to ``sync_links`` / ``sync_albums``, so
a crash or a kill loses at most the batch in flight, and that one is found again by sku on the next pass.
A write whose answer was lost (timeout, 5xx, dropped connection) is never resent blindly: the pass is
marked ``uncertain`` and the runner re-reads VK and re-plans, which adopts what did get through.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from ...clients.errors import (
    VkApiError,
    VkItemNotFound,
    VkLimitReached,
)
from ...clients.vk import EXECUTE_MAX_CALLS, VkCall, VkCallResult, VkClient
from ...extensions import db
from ...models import LinkStatus, SyncAlbum, SyncLink, VkCachedProduct, utcnow
from . import plan_model as p
from .apply_albums import AlbumsMixin
from .apply_cards import CardsMixin
from .apply_common import FATAL_ERRORS, TRANSIENT_ERRORS, ApplyResult, SyncStopped, chunks
from .apply_photos import PhotosMixin, PhotoSource
from .mapping import sku_for

log = logging.getLogger(__name__)

PHOTO_WINDOW = 10 * EXECUTE_MAX_CALLS  # items whose photos are uploaded, saved and used together
ALBUM_ADD_MAX_ITEMS = 100
UPLOAD_THREADS = 4  # photo uploads in flight at once (the upload server is not under the API's rate limit)
TOO_LATE_TO_RESTORE, ITEM_NOT_DELETED = 1400, 1518


class Applier(AlbumsMixin, PhotosMixin, CardsMixin):
    """Runs one plan for one merchant; ``progress(done)`` is called after every batch."""

    def __init__(
        self,
        *,
        user_id: int,
        group_id: int,
        client: VkClient,
        photos: PhotoSource,
        progress: Callable[[int], None] | None = None,
        deadline: float | None = None,
    ):
        self.user_id = user_id
        # time.monotonic() after which no new window of photo items starts (the run's slice, runner.py)
        self.deadline = deadline
        self.group_id = group_id
        self.owner_id = -abs(group_id)
        self.client = client
        self.photos = photos
        self.progress = progress or (lambda done: None)
        self.result = ApplyResult()
        self._upload_url_cache: dict[bool, str] = {}  # bulk? -> the upload address while VK lets it serve again
        self._links: dict[p.Key, SyncLink] = {}
        self._albums: dict[p.AlbumKey, SyncAlbum] = {}
        self._titles: dict[p.Key, str] = {}
        self._thread_state = threading.local()
        self._not_restored: set[int] = set()  # items whose market.restore did not go through this pass

    # ------------------------------------------------------------------------------------------ entry

    def apply(self, plan: p.Plan, allow_removals: bool = True) -> ApplyResult:
        # Commits after every batch must not expire the thousands of links held here: each expired link
        # costs a SELECT on its next use and each commit walks the whole identity map (10,000 items: the
        # run was database-bound, not VK-bound). We hold the merchant's sync lock, so nothing else writes them.
        session = db.session()
        expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
        try:
            return self._apply(plan, allow_removals)
        finally:
            session.expire_on_commit = expire_on_commit

    def _apply(self, plan: p.Plan, allow_removals: bool) -> ApplyResult:
        self._links = {
            (link.store_evotor_id, link.evotor_product_id): link
            for link in db.session.scalars(db.select(SyncLink).filter_by(user_id=self.user_id))
        }
        self._albums = {
            (a.store_evotor_id, a.evotor_group_id): a
            for a in db.session.scalars(db.select(SyncAlbum).filter_by(user_id=self.user_id))
        }
        for op in plan.creates:
            self._titles[op.desired.key] = op.desired.title
        for op in plan.updates:
            self._titles[op.desired.key] = op.desired.title

        self._record_adoptions(plan)
        self._record_forgets_and_skips(plan)
        self._prepare_cards(plan)
        self._ungroup(plan)
        self._create_properties(plan)
        self._albums_first(plan)
        self._restores([u for u in plan.updates if u.restore])
        if allow_removals:
            self._removals(plan.removals)
        else:
            self._removals([r for r in plan.removals if r.duplicate])
        updates = [u for u in plan.updates if u.vk_item_id not in self._not_restored]
        creates = list(plan.creates)
        if self.variants_refused:  # the cards' items wait for the next pass, which plans them as separate items
            creates = [c for c in creates if c.desired.card is None]
            updates = [u for u in updates if u.desired.card is None]
        self._with_photos([*creates, *(u for u in updates if u.new_photo)], plan)
        self._edits([u for u in updates if not u.new_photo])
        self._group(plan)
        self._memberships(plan)
        self._album_deletes(plan)
        db.session.commit()
        self.result.failed = len(self.result.failures)
        return self.result

    # ------------------------------------------------------------------------------------------ batches

    def _run(self, calls: list[VkCall], handle: Callable[[VkCallResult], None], own_errors: bool = False) -> None:
        """Send calls in execute batches of 25; record each result; commit after each batch.

        A batch that fails as a whole for a passing reason marks the pass uncertain and the next batch goes
        on; token, rights and flood errors stop the merchant's run (SyncStopped). With ``own_errors`` every
        call's error goes to ``handle`` (which then decides what it means).
        """
        for chunk in chunks(calls, EXECUTE_MAX_CALLS):
            try:
                results = self.client.execute_batch(chunk)
            except FATAL_ERRORS as exc:
                db.session.commit()
                raise SyncStopped(exc) from exc
            except TRANSIENT_ERRORS as exc:
                self.result.uncertain = True
                log.warning(
                    "vk batch failed; the next pass re-reads VK",
                    extra={
                        "user_id": self.user_id,
                        "error": exc.message,
                        "maybe_applied": getattr(exc, "maybe_applied", False),
                    },
                )
                continue
            except VkApiError as exc:
                self.result.uncertain = True
                log.warning("vk batch refused", extra={"user_id": self.user_id, "error": exc.message})
                continue
            for result in results:
                self.result.calls += 1
                if result.error is not None:
                    log.info(
                        "vk call failed",
                        extra={
                            "user_id": self.user_id,
                            "vk_method": result.call.method,
                            "vk_error": result.error.code,
                            "error": result.error.message,
                        },
                    )
                if result.error is not None and own_errors:
                    handle(result)
                    continue
                if result.error is not None and isinstance(result.error, FATAL_ERRORS):
                    db.session.commit()
                    raise SyncStopped(result.error)
                if result.error is not None and isinstance(result.error, TRANSIENT_ERRORS):
                    self.result.uncertain = True
                    continue
                handle(result)
            db.session.commit()
            self.progress(len(chunk))

    def _link(self, key: p.Key, sku: str | None = None) -> SyncLink:
        link = self._links.get(key)
        if link is None:
            link = SyncLink(
                user_id=self.user_id,
                store_evotor_id=key[0],
                evotor_product_id=key[1],
                sku=sku or sku_for(*key),
                status=LinkStatus.PENDING,
            )
            db.session.add(link)
            self._links[key] = link
        return link

    def _fail(self, key: p.Key | None, error: VkApiError | str, title: str = "") -> None:
        reason = error if isinstance(error, str) else f"VK error {error.code}: {error.message}"
        if key is not None:
            link = self._link(key)
            link.status = LinkStatus.ERROR
            link.last_error = reason[:1000]
            self.result.failures[p.key_text(key)] = {
                "title": title or self._titles.get(key, ""),
                "reason": reason[:300],
            }
        if isinstance(error, VkLimitReached):
            db.session.commit()
            raise SyncStopped(error)

    # ------------------------------------------------------------------------------------------ db-only

    def _record_adoptions(self, plan: p.Plan) -> None:
        for op in plan.adoptions:
            link = self._link(op.key, op.sku)
            if link.vk_item_id != op.vk_item_id:
                link.vk_item_id = op.vk_item_id
                link.pushed = None  # we do not know what it holds: the plan compares with VK's copy
            link.group_id = self.group_id
        for op in plan.album_adoptions:
            album = self._album(op.album_key)
            album.vk_album_id, album.title, album.group_id = op.vk_album_id, op.title, self.group_id
        db.session.commit()

    def _record_forgets_and_skips(self, plan: p.Plan) -> None:
        for op in plan.forgets:
            link = self._links.get(op.key)
            if link is not None:
                link.vk_item_id, link.pushed, link.content_hash = None, None, None
                link.status, link.last_error = LinkStatus.REMOVED, None
        for op in plan.skipped:
            link = self._link(op.key)
            if link.vk_item_id is None:
                link.status = LinkStatus.SKIPPED
            link.last_error = op.reason
        db.session.commit()

    # ------------------------------------------------------------------------------------------ albums

    # ------------------------------------------------------------------------------------------ removals

    def _removals(self, removals: Iterable[p.Remove]) -> None:
        calls = []
        for op in removals:
            if op.mode == "hide":
                calls.append(
                    VkCall("market.edit", {"owner_id": self.owner_id, "item_id": op.vk_item_id, "deleted": 1}, tag=op)
                )
            else:
                calls.append(VkCall("market.delete", {"owner_id": self.owner_id, "item_id": op.vk_item_id}, tag=op))
        self._run(calls, self._removed)

    def _removed(self, result: VkCallResult) -> None:
        op: p.Remove = result.call.tag
        gone = isinstance(result.error, VkItemNotFound)
        if result.error is not None and not gone:
            self._fail(None if op.duplicate else op.key, result.error, op.title)
            return
        if op.mode == "delete" or gone:
            self._mark_removal(op.vk_item_id, p.MARK_DELETED)
        if op.duplicate:
            self.result.duplicates_removed += 1
        else:
            self.result.removed += 1
        link = self._links.get(op.key) if op.key else None
        if op.duplicate or link is None or link.vk_item_id not in (None, op.vk_item_id):
            return
        if op.mode == "hide" and not gone:
            link.status = LinkStatus.UNAVAILABLE
            link.pushed = {**(link.pushed or {}), "deleted": 1}
            link.content_hash = None
        else:
            link.vk_item_id, link.pushed, link.content_hash, link.vk_album_id = None, None, None, None
            link.status = LinkStatus.REMOVED
        link.last_error = op.reason
        link.last_synced_at = utcnow()

    def _mark_removal(self, vk_item_id: int, mark: str | None) -> None:
        """Remember in the VK mirror that an item VK may still return (as availability 1) was removed / is dead."""
        db.session.execute(
            sa.update(VkCachedProduct)
            .where(VkCachedProduct.user_id == self.user_id, VkCachedProduct.vk_item_id == vk_item_id)
            .values(removal=mark)
        )

    # ------------------------------------------------------------------------------------------ restores

    def _restores(self, updates: list[p.Update]) -> None:
        """market.restore for items we removed that VK still offers back; their edits follow in this pass."""
        self._not_restored = {op.vk_item_id for op in updates}
        calls = [
            VkCall("market.restore", {"owner_id": self.owner_id, "item_id": op.vk_item_id}, tag=op) for op in updates
        ]
        self._run(calls, self._restored)

    def _restored(self, result: VkCallResult) -> None:
        op: p.Update = result.call.tag
        error = result.error
        if error is None or error.code == ITEM_NOT_DELETED:
            self._not_restored.discard(op.vk_item_id)
            self._mark_removal(op.vk_item_id, None)
            self.result.restored += error is None
            return
        if error.code == TOO_LATE_TO_RESTORE or isinstance(error, VkItemNotFound):
            # Nobody's item any more: the next pass creates the product's item anew (once).
            self._mark_removal(op.vk_item_id, p.MARK_DEAD)
            link = self._links.get(op.desired.key)
            if link is not None and link.vk_item_id == op.vk_item_id:
                link.vk_item_id, link.pushed = None, None
            self.result.uncertain = True
            return
        self._fail(op.desired.key, error, op.desired.title)

    # ------------------------------------------------------------------------------------------ items

    def _send_items(self, ready: list[tuple[p.Create | p.Update, int | None]]) -> None:
        calls = []
        for op, photo_id in ready:
            link = self._link(op.desired.key, op.desired.sku)
            if isinstance(op, p.Create):
                params = {"owner_id": self.owner_id, **op.desired.fields}
                if link.status not in (LinkStatus.PUBLISHED, LinkStatus.UNAVAILABLE):
                    link.status = LinkStatus.PENDING
            else:
                params = {"owner_id": self.owner_id, "item_id": op.vk_item_id, **op.changed}
            if photo_id is not None:
                params["main_photo_id"] = photo_id
            unsent = False
            if "variant_ids" in params:  # the options as [[property, value], ...]: VK wants its variant ids
                ids = self.variant_ids_for(params["variant_ids"]) if not self.variants_refused else None
                if ids is None:
                    del params["variant_ids"]
                    unsent = True  # recorded as not pushed: the next pass sends them
                else:
                    params["variant_ids"] = ids
            calls.append(
                VkCall("market.add" if isinstance(op, p.Create) else "market.edit", params, tag=(op, photo_id, unsent))
            )
        db.session.commit()
        self._run(calls, self._item_done)

    def _edits(self, updates: list[p.Update]) -> None:
        self._send_items([(op, None) for op in updates])

    def _item_done(self, result: VkCallResult) -> None:
        op, photo_id, unsent = result.call.tag
        if self._refused(result):  # variant_ids refused: the mode is off; the next pass plans a separate item
            return
        key = op.desired.key
        link = self._link(key, op.desired.sku)
        if result.error is not None:
            if isinstance(result.error, VkItemNotFound):
                # Removed in VK (by hand, or by us): if VK still returns it, the next pass restores it, else
                # it creates the product's item anew.
                if isinstance(op, p.Update):
                    self._mark_removal(op.vk_item_id, p.MARK_DELETED)
                link.vk_item_id, link.pushed = None, None
                self.result.uncertain = True
                return
            if result.error.code == 100 and "photo" in result.error.message.lower():
                link.vk_photo_id, link.photo_hash = None, None  # that photo is spent: upload anew next time
                if isinstance(op, p.Create) and photo_id is not None and link.vk_item_id is None:
                    # VK says the photo is gone or already serves an item: perhaps ours, made by an add whose
                    # answer was lost (a worker killed mid-request, VK finishing it later). The claim lets the
                    # next pass adopt the item holding this photo (title confirmed) instead of making a second.
                    link.pushed = {"main_photo_id": photo_id}
                    self.result.uncertain = True
            self._fail(key, result.error, op.desired.title)
            return
        if isinstance(op, p.Create):
            link.vk_item_id = int(result.value["market_item_id"])
            self.result.created += 1
        else:
            self.result.updated += 1
        previous_photo = (link.pushed or {}).get("main_photo_id")
        link.pushed = {**op.desired.fields, "main_photo_id": photo_id or previous_photo}
        link.content_hash = op.desired.hash
        if unsent:
            link.pushed["variant_ids"], link.content_hash = None, None
        link.group_id = self.group_id
        link.status = LinkStatus.UNAVAILABLE if op.desired.fields.get("deleted") else LinkStatus.PUBLISHED
        link.last_error = None
        self.result.succeeded.add(p.key_text(key))
        link.last_synced_at = utcnow()

    # ------------------------------------------------------------------------------------------ albums of items
