"""Apply a sync plan to VK: execute batches under the shared limiter, each outcome recorded at once.

Every batch of up to 25 calls is followed by a commit of what it did to ``sync_links`` / ``sync_albums``, so
a crash or a kill loses at most the batch in flight, and that one is found again by sku on the next pass.
A write whose answer was lost (timeout, 5xx, dropped connection) is never resent blindly: the pass is
marked ``uncertain`` and the runner re-reads VK and re-plans, which adopts what did get through.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

from ...clients.errors import (
    ImageError,
    VkAccessDenied,
    VkAlreadyInAlbum,
    VkApiError,
    VkAuthError,
    VkCaptchaNeeded,
    VkFloodControl,
    VkInternalError,
    VkItemNotFound,
    VkLimitReached,
    VkMarketDisabled,
    VkTooManyRequests,
    VkTransportError,
)
from ...clients.photos import prepare_product_image
from ...clients.vk import EXECUTE_MAX_CALLS, VkCall, VkCallResult, VkClient
from ...extensions import db
from ...models import LinkStatus, SyncAlbum, SyncLink, VkCachedProduct, utcnow
from . import plan as p
from .apply_cards import CardsMixin

log = logging.getLogger(__name__)

PHOTO_WINDOW = 10 * EXECUTE_MAX_CALLS  # items whose photos are uploaded, saved and used together
ALBUM_ADD_MAX_ITEMS = 100
UPLOAD_THREADS = 4  # photo uploads in flight at once (the upload server is not under the API's rate limit)
FATAL_ERRORS = (VkAuthError, VkAccessDenied, VkMarketDisabled, VkFloodControl, VkCaptchaNeeded)
TRANSIENT_ERRORS = (VkTooManyRequests, VkInternalError, VkTransportError)
TOO_LATE_TO_RESTORE, ITEM_NOT_DELETED = 1400, 1518


class SyncStopped(Exception):
    """VK refused the merchant's token, rights or pace: the run stops, the merchant is told why."""

    def __init__(self, error: VkApiError):
        super().__init__(error.message)
        self.error = error


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    removed: int = 0
    duplicates_removed: int = 0  # copies of one product beyond its one item (self-healing)
    restored: int = 0
    failed: int = 0
    albums_changed: int = 0
    photos_uploaded: int = 0
    cards_grouped: int = 0
    cards_ungrouped: int = 0
    properties_created: int = 0  # VK properties and property variants
    calls: int = 0
    uncertain: bool = False  # some write's fate is unknown, or a batch failed for a passing reason
    failures: dict = field(default_factory=dict)  # "store:product" -> {"title", "reason"}
    succeeded: set = field(default_factory=set)  # "store:product" written fine (clears an earlier pass's failure)

    def merge(self, other: ApplyResult) -> None:
        for name in (
            "created",
            "updated",
            "removed",
            "duplicates_removed",
            "restored",
            "albums_changed",
            "photos_uploaded",
            "cards_grouped",
            "cards_ungrouped",
            "properties_created",
            "calls",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key in other.succeeded:
            self.failures.pop(key, None)
        self.failures.update(other.failures)
        self.succeeded |= other.succeeded
        self.failed = len(self.failures)


class PhotoSource:
    """Bytes ready for VK for a product: its Evotor image padded to 400x400, else the default photo."""

    def __init__(self, default_path: str, download: Callable[[str], bytes] | None, image_urls: dict[p.Key, str]):
        # Whether VK takes market.saveProductPhoto inside execute (unconfirmed): learnt once per run, see
        # Applier._save_photos; a refusal sends the saves as requests of their own for the rest of the run.
        self.saves_in_execute = True
        self._default_path = default_path
        self._default: bytes | None = None
        self._download = download
        self._urls = image_urls

    def use_image_urls(self, image_urls: dict[p.Key, str]) -> None:
        """The Evotor image address of each product, as the latest mirror read has them."""
        self._urls = image_urls

    def default_bytes(self) -> bytes:
        if self._default is None:
            self._default = prepare_product_image(Path(self._default_path).read_bytes())
        return self._default

    def photo_for(self, desired: p.Desired) -> tuple[bytes, str]:
        """(bytes, photo key actually used): a failed download falls back to the default, retried next run."""
        url = self._urls.get(desired.key)
        if desired.image_key and url and self._download is not None:
            try:
                return prepare_product_image(self._download(url)), desired.photo_key
            except (ImageError, Exception) as exc:  # any failure of the image: the item still gets published
                log.warning(
                    "product image unusable, default photo used",
                    extra={"product": desired.key[1], "error": type(exc).__name__},
                )
        return self.default_bytes(), "default"


class Applier(CardsMixin):
    """Runs one plan for one merchant; ``progress(done)`` is called after every batch."""

    def __init__(
        self,
        *,
        user_id: int,
        group_id: int,
        client: VkClient,
        photos: PhotoSource,
        progress: Callable[[int], None] | None = None,
    ):
        self.user_id = user_id
        self.group_id = group_id
        self.owner_id = -abs(group_id)
        self.client = client
        self.photos = photos
        self.progress = progress or (lambda done: None)
        self.result = ApplyResult()
        self._upload_url: str | None = None
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
        for chunk in _chunks(calls, EXECUTE_MAX_CALLS):
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
            from .mapping import sku_for

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
            self.result.failures[f"{key[0]}:{key[1]}"] = {
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

    def _album(self, album_key: p.AlbumKey) -> SyncAlbum:
        album = self._albums.get(album_key)
        if album is None:
            album = SyncAlbum(
                user_id=self.user_id, store_evotor_id=album_key[0], evotor_group_id=album_key[1], group_id=self.group_id
            )
            db.session.add(album)
            self._albums[album_key] = album
        return album

    # ------------------------------------------------------------------------------------------ albums

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

    def _with_photos(self, ops: list[p.Create | p.Update], plan: p.Plan) -> None:
        """Upload, save and use photos window by window: each item gets its own photo id.

        Uploads go to VK's upload server, not the API, so they do not count against the 3 requests/s: the
        next window's photos are prepared and uploaded in background threads while this window's execute
        batches wait for their slots (done one after the other, uploads alone took as long as the batches).
        """
        windows = list(_chunks(ops, PHOTO_WINDOW))
        if not windows:
            return
        pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="vk-upload")
        try:
            pending = self._start_uploads(pool, windows[0])
            for index in range(len(windows)):
                ready, uploads = pending
                if index + 1 < len(windows):
                    pending = self._start_uploads(pool, windows[index + 1])
                saves = []
                for op, future in uploads:
                    try:
                        uploaded, used_key = future.result()
                    except FATAL_ERRORS as exc:
                        raise SyncStopped(exc) from exc
                    except VkApiError as exc:
                        self.result.uncertain = True
                        log.warning("photo upload failed", extra={"user_id": self.user_id, "error": exc.message})
                        continue
                    saves.append(VkCall("market.saveProductPhoto", {"upload_response": uploaded}, tag=(op, used_key)))
                db.session.commit()

                def saved(result: VkCallResult, ready=ready) -> None:
                    op, used_key = result.call.tag
                    if result.error is not None:
                        self._fail(op.desired.key, result.error)
                        return
                    value = result.value
                    photo_id = int(value.get("photo_id") or value.get("id")) if isinstance(value, dict) else int(value)
                    link = self._link(op.desired.key, op.desired.sku)
                    link.vk_photo_id, link.photo_hash = photo_id, used_key
                    self.result.photos_uploaded += 1
                    ready.append((op, photo_id))

                self._save_photos(saves, saved)
                self._send_items(ready)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _save_photos(self, saves: list[VkCall], saved: Callable[[VkCallResult], None]) -> None:
        """Save uploaded photos: in execute batches while VK takes them there, else one request each.

        Whether VK accepts upload "save" methods inside execute is not documented. A save refused there (with
        any error that is not a passing one) is sent again on its own; if that works, the rest of the run
        sends its saves that way (each one a request of the 3/s budget instead of 1/25).
        """
        alone: list[VkCall] = []

        def in_execute(result: VkCallResult) -> None:
            if result.error is None:
                saved(result)
            elif isinstance(result.error, TRANSIENT_ERRORS):
                self.result.uncertain = True
            else:
                alone.append(result.call)

        if self.photos.saves_in_execute:
            self._run(saves, in_execute, own_errors=True)
        else:
            alone = list(saves)
        for call in alone:
            try:
                value = self.client.call(call.method, **call.params)
            except FATAL_ERRORS as exc:
                db.session.commit()
                raise SyncStopped(exc) from exc
            except TRANSIENT_ERRORS:
                self.result.uncertain = True
                continue
            except VkApiError as exc:
                saved(VkCallResult(call, error=exc))
                continue
            finally:
                self.result.calls += 1
            if self.photos.saves_in_execute:
                log.info(
                    "vk refused photo saves inside execute; saving them one request each",
                    extra={"user_id": self.user_id},
                )
                self.photos.saves_in_execute = False
            saved(VkCallResult(call, value=value))
        if alone:
            db.session.commit()

    def _start_uploads(
        self, pool: ThreadPoolExecutor, window: list[p.Create | p.Update]
    ) -> tuple[list[tuple[p.Create | p.Update, int]], list[tuple[p.Create | p.Update, Future]]]:
        """(items whose saved photo is reusable, futures of (upload response, photo key) for the others)."""
        ready: list[tuple[p.Create | p.Update, int]] = []
        uploads: list[tuple[p.Create | p.Update, Future]] = []
        for op in window:
            link = self._link(op.desired.key, op.desired.sku)
            if link.vk_photo_id and link.photo_hash == op.desired.photo_key:
                ready.append((op, int(link.vk_photo_id)))  # saved on an earlier pass and not yet used elsewhere
                continue
            # Asking for the upload server is an API call like any other: a dead token or flood control stops
            # the run with words for the merchant; a transient failure leaves this window to the next pass.
            try:
                upload_url = self._photo_upload_url()
            except FATAL_ERRORS as exc:
                raise SyncStopped(exc) from exc
            except VkApiError as exc:
                self.result.uncertain = True
                log.warning("photo upload server unavailable", extra={"user_id": self.user_id, "error": exc.message})
                return ready, []
            uploads.append((op, pool.submit(self._upload_one, upload_url, op.desired)))
        return ready, uploads

    def _upload_one(self, upload_url: str, desired: p.Desired) -> tuple[str, str]:
        """In an upload thread: the photo's bytes uploaded with the thread's own HTTP session (no database)."""
        uploader = getattr(self._thread_state, "uploader", None)
        if uploader is None:
            uploader = copy.copy(self.client)
            uploader.session = requests.Session()
            self._thread_state.uploader = uploader
        data, used_key = self.photos.photo_for(desired)
        return uploader.upload_photo_file(upload_url, data), used_key

    def _photo_upload_url(self) -> str:
        if self._upload_url is None:
            self._upload_url = self.client.photo_upload_url(abs(self.group_id))
        return self._upload_url

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
        self.result.succeeded.add(f"{key[0]}:{key[1]}")
        link.last_synced_at = utcnow()

    # ------------------------------------------------------------------------------------------ albums of items

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
            for part in _chunks(members, ALBUM_ADD_MAX_ITEMS):
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


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
