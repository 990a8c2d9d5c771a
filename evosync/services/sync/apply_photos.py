"""Photos for the items of a plan (a mixin of Applier): the bytes (Evotor image or default), uploads in a few
threads, saves batched in ``execute`` where VK takes them, one photo per item.

Two flows. **Bulk** (the default): ``market.getProductPhotoUploadServer(bulk=1)``, up to ``VK_PHOTO_BULK_FILES``
photos in one upload, one ``market.saveProductPhotoBulk`` for them inside ``execute``: a new item costs its
``market.add`` plus a fifth of a save. **Single** (the first release's): one upload and one
``market.saveProductPhoto`` per photo. VK documents the bulk flow only in its API schema, so when VK refuses any
step of it (the method unknown, too many files, the save refused inside ``execute``) the items concerned are
done again in the single flow at once, and the merchant stays on it for ``VK_PHOTO_BULK_RETRY_HOURS``
(``photo_flow.py``). Whether an upload address serves more than one upload is learnt too: refused a second time,
every upload gets an address of its own, asked for 25 at a time in ``execute``.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import requests

from ...clients.errors import ImageError, VkAccessDenied, VkApiError, VkUploadRefused
from ...clients.photos import prepare_product_image
from ...clients.vk import EXECUTE_MAX_CALLS, VkCall, VkCallResult, upload_server_call
from ...extensions import db
from . import photo_flow
from . import plan_model as p
from .apply_common import FATAL_ERRORS, TRANSIENT_ERRORS, SyncStopped, chunks
from .image_lookup import ImageLookup

log = logging.getLogger(__name__)

PHOTO_WINDOW = 10 * EXECUTE_MAX_CALLS  # items whose photos are uploaded, saved and used together
UPLOAD_THREADS = 4  # photo uploads in flight at once (the upload server is not under the API's rate limit)


class PhotoSource:
    """Bytes ready for VK for a product: its Evotor image padded to 400x400, else the default photo."""

    def __init__(
        self,
        default_path: str,
        download: Callable[[str], bytes] | None,
        image_urls: dict[p.Key, str],
        *,
        bulk_files: int = 0,
        lookup: ImageLookup | None = None,
    ):
        # Whether VK takes market.saveProductPhoto inside execute (unconfirmed): learnt once per run, see
        # Applier._save_photos; a refusal sends the saves as requests of their own for the rest of the run.
        self.saves_in_execute = True
        # Photos per bulk upload; 0 = the single flow (set so for the rest of the run when VK refuses bulk).
        self.bulk_files = bulk_files if bulk_files >= 2 else 0
        self.fallback_reason: str | None = None  # why VK's refusal sent this run back to the single flow
        # Whether an upload address takes more than one upload (unconfirmed): learnt per run.
        self.urls_reusable = True
        self._default_path = default_path
        self._default: bytes | None = None
        self._download = download
        self._urls = image_urls
        # Images still due in the mirror, looked up in the upload threads before their item's photo is made.
        self.lookup = lookup

    def use_image_urls(self, image_urls: dict[p.Key, str]) -> None:
        """The Evotor image address of each product, as the latest mirror read has them."""
        self._urls = image_urls

    def default_bytes(self) -> bytes:
        if self._default is None:
            self._default = prepare_product_image(Path(self._default_path).read_bytes())
        return self._default

    def photo_for(self, desired: p.Desired) -> tuple[bytes, str]:
        """(bytes, photo key actually used): a failed download falls back to the default, retried next run.

        An image still due in the mirror is looked up first (``lookup``): the photo is then the image Evotor has
        now, and its key the one the next plan computes from the mirror (ImageLookup.take writes it there).
        """
        found = self.lookup.image_of(desired.key) if self.lookup is not None else None
        if found is not None:
            key, url = found
        else:
            key, url = (desired.photo_key if desired.image_key else None), self._urls.get(desired.key)
        if key and url and self._download is not None:
            try:
                return prepare_product_image(self._download(url)), key
            except (ImageError, Exception) as exc:  # any failure of the image: the item still gets published
                log.warning(
                    "product image unusable, default photo used",
                    extra={"product": desired.key[1], "error": type(exc).__name__},
                )
        return self.default_bytes(), "default"


# (its items, bulk?, its address shared with other uploads?, future of (raw answer, photo keys))
Upload = tuple[list[p.Create | p.Update], bool, bool, Future]
SINGLE_SAVE, BULK_SAVE = "market.saveProductPhoto", "market.saveProductPhotoBulk"
MAX_UPLOAD_ROUNDS = 3  # a window's photos: its uploads, then at most two more for those VK sent back


class PhotosMixin:
    """Needs from the Applier: ``client``, ``group_id``, ``owner_id``, ``photos``, ``result``, ``_run``, ``_links``,
    ``deadline``."""

    def _with_photos(self, ops: list[p.Create | p.Update], plan: p.Plan) -> None:
        """Upload, save and use photos window by window: each item gets its own photo id.

        Uploads go to VK's upload server, not the API, so they do not count against the 3 requests/s: the
        next window's photos are prepared and uploaded in background threads while this window's execute
        batches wait for their slots (done one after the other, uploads alone took as long as the batches).
        """
        windows = list(chunks(ops, PHOTO_WINDOW))
        if not windows:
            return
        pool = ThreadPoolExecutor(max_workers=UPLOAD_THREADS, thread_name_prefix="vk-upload")
        try:
            pending = self._start_uploads(pool, windows[0])
            for index in range(len(windows)):
                ready, uploads = pending
                if index + 1 < len(windows) and self.deadline is not None and time.monotonic() >= self.deadline:
                    # The run's time slice is used up: this window is the last; the next run does the rest.
                    self.result.sliced = sum(len(w) for w in windows[index + 1 :])
                    windows = windows[: index + 1]
                if index + 1 < len(windows):
                    pending = self._start_uploads(pool, windows[index + 1])
                for _round in range(MAX_UPLOAD_ROUNDS):
                    again = self._save_uploads(uploads, ready)
                    if not again:
                        break
                    more_ready, uploads = self._start_uploads(pool, again)  # the flow VK takes, as now known
                    ready.extend(more_ready)
                else:
                    self.result.uncertain = True  # refused three times over: the next pass tries again
                self._send_items(ready)
                if index + 1 >= len(windows):
                    break  # the last window (of all, or of the run's slice)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _save_uploads(self, uploads: list[Upload], ready: list[tuple[p.Create | p.Update, int]]) -> list:
        """Save what was uploaded; each saved photo's item joins ``ready``. Returns the items to upload again:
        those VK's refusal of the bulk flow or of a reused upload address sent back."""
        again: list[p.Create | p.Update] = []
        saves = []
        for group, bulk, shared, future in uploads:
            try:
                uploaded, used_keys = future.result()
            except FATAL_ERRORS as exc:
                raise SyncStopped(exc) from exc
            except VkUploadRefused as exc:
                if exc.bad_url and shared:  # each upload that shared the address is done again with its own
                    if self.photos.urls_reusable:
                        self.photos.urls_reusable = False
                        log.info(
                            "vk refused an upload address used twice; one address per upload from now on",
                            extra={"user_id": self.user_id},
                        )
                    again.extend(group)
                elif bulk and not exc.bad_url:
                    self._bulk_refused(f"upload refused: {exc.detail}")
                    again.extend(group)
                else:
                    self.result.uncertain = True
                    log.warning("photo upload failed", extra={"user_id": self.user_id, "error": exc.message})
                continue
            except VkApiError as exc:
                self.result.uncertain = True
                log.warning("photo upload failed", extra={"user_id": self.user_id, "error": exc.message})
                continue
            if bulk and not self.photos.bulk_files:
                again.extend(group)  # uploaded in bulk before VK refused the flow: done again, one by one
                continue
            saves.append(
                VkCall(BULK_SAVE if bulk else SINGLE_SAVE, {"upload_response": uploaded}, tag=(group, used_keys))
            )
        if self.photos.lookup is not None:
            self.photos.lookup.take()  # images found for these photos: in the mirror before the photos are used
        db.session.commit()

        def saved(result: VkCallResult) -> None:
            group, used_keys = result.call.tag
            if result.error is not None:
                for op in group:
                    self._fail(op.desired.key, result.error)
                return
            photo_ids = _photo_ids(result.value, len(group))
            if photo_ids is None:  # not one photo per file: which is whose cannot be told, none is used
                self.result.uncertain = True
                log.warning(
                    "vk saved photos answer unreadable",
                    extra={"user_id": self.user_id, "vk_method": result.call.method, "photos": len(group)},
                )
                return
            for op, used_key, photo_id in zip(group, used_keys, photo_ids, strict=True):
                link = self._link(op.desired.key, op.desired.sku)
                link.vk_photo_id, link.photo_hash = photo_id, used_key
                self.result.photos_uploaded += 1
                ready.append((op, photo_id))

        again.extend(self._save_photos(saves, saved))
        return again

    def _save_photos(self, saves: list[VkCall], saved: Callable[[VkCallResult], None]) -> list:
        """Save uploaded photos: in execute batches while VK takes them there, else one request each.

        Whether VK accepts upload "save" methods inside execute is not documented. A single save refused there
        (with any error that is not a passing one) is sent again on its own; if that works, the rest of the run
        sends its saves that way (each one a request of the 3/s budget instead of 1/25). A bulk save refused
        there, for any other lasting reason, sends the merchant back to the single flow: its items are returned
        to be uploaded again that way. Token, rights, flood and captcha errors stop the run (SyncStopped).
        """
        batched = [c for c in saves if c.method == BULK_SAVE or self.photos.saves_in_execute]
        alone = [c for c in saves if c.method != BULK_SAVE and not self.photos.saves_in_execute]
        again: list[p.Create | p.Update] = []

        def in_execute(result: VkCallResult) -> None:
            if result.error is None:
                saved(result)
            elif isinstance(result.error, FATAL_ERRORS) and not isinstance(result.error, VkAccessDenied):
                # The token, flood control or a captcha: about the merchant, not the method. The run stops; no
                # refusal of the bulk flow is remembered. "Access denied" (15) stays a refusal of the method in
                # execute: it is how VK would word that (a guess); were the rights really gone, the save sent
                # on its own stops the run just after.
                db.session.commit()
                raise SyncStopped(result.error)
            elif isinstance(result.error, TRANSIENT_ERRORS):
                self.result.uncertain = True
            elif result.call.method == BULK_SAVE:
                self._bulk_refused(f"{BULK_SAVE} in execute: VK error {result.error.code} {result.error.message}")
                again.extend(result.call.tag[0])
            else:
                alone.append(result.call)

        if batched:
            self._run(batched, in_execute, own_errors=True)
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
        return again

    def _bulk_refused(self, reason: str) -> None:
        """VK refused a step of the bulk flow: the single flow for the rest of the run, and remembered."""
        if not self.photos.bulk_files:
            return
        self.photos.bulk_files = 0
        self.photos.fallback_reason = reason
        log.info(
            "vk refused bulk photos; the single photo flow from now on",
            extra={"user_id": self.user_id, "reason": reason},
        )
        photo_flow.remember_single_flow(self.user_id, reason)

    def _start_uploads(
        self, pool: ThreadPoolExecutor, window: list[p.Create | p.Update]
    ) -> tuple[list[tuple[p.Create | p.Update, int]], list[Upload]]:
        """(items whose saved photo is reusable, the uploads started for the others: a few photos each in the
        bulk flow, one each in the single flow)."""
        ready: list[tuple[p.Create | p.Update, int]] = []
        todo: list[p.Create | p.Update] = []
        for op in window:
            link = self._link(op.desired.key, op.desired.sku)
            if link.vk_photo_id and link.photo_hash == op.desired.photo_key:
                ready.append((op, int(link.vk_photo_id)))  # saved on an earlier pass and not yet used elsewhere
            else:
                todo.append(op)
        bulk = bool(self.photos.bulk_files)
        groups = list(chunks(todo, self.photos.bulk_files)) if bulk else [[op] for op in todo]
        if not groups:
            return ready, []
        # Asking for upload addresses is an API call like any other: a dead token or flood control stops the
        # run with words for the merchant; a transient failure leaves these photos to the next pass.
        try:
            urls = self._upload_urls(len(groups), bulk)
        except FATAL_ERRORS as exc:
            raise SyncStopped(exc) from exc
        except VkApiError as exc:
            self.result.uncertain = True
            log.warning("photo upload server unavailable", extra={"user_id": self.user_id, "error": exc.message})
            return ready, []
        if len(urls) < len(groups):
            self.result.uncertain = True  # some addresses were not given: those photos wait for the next pass
        shared = self.photos.urls_reusable  # the run's one address, for all of these uploads
        uploads = [
            (group, bulk, shared, pool.submit(self._upload_group, url, group, bulk))
            for group, url in zip(groups, urls, strict=False)
        ]
        return ready, uploads

    def _upload_group(self, upload_url: str, group: list[p.Create | p.Update], bulk: bool) -> tuple[str, list[str]]:
        """In an upload thread: the photos' bytes uploaded with the thread's own HTTP session (no database)."""
        uploader = getattr(self._thread_state, "uploader", None)
        if uploader is None:
            uploader = copy.copy(self.client)
            uploader.session = requests.Session()
            self._thread_state.uploader = uploader
        prepared = [self.photos.photo_for(op.desired) for op in group]
        if bulk:
            uploaded = uploader.upload_photo_files(upload_url, [data for data, _ in prepared])
        else:
            uploaded = uploader.upload_photo_file(upload_url, prepared[0][0])
        return uploaded, [used_key for _, used_key in prepared]

    def _upload_urls(self, count: int, bulk: bool) -> list[str]:
        """``count`` upload addresses: the run's one address while VK lets it serve many uploads, else fresh
        ones, 25 to an execute. Fewer come back when VK refused some of them for a passing reason."""
        if self.photos.urls_reusable:
            url = self._upload_url_cache.get(bulk)
            if url is None:
                url = self._upload_url_cache[bulk] = self.client.photo_upload_url(abs(self.group_id), bulk=bulk)
            return [url] * count
        urls: list[str] = []

        def got(result: VkCallResult) -> None:
            if isinstance(result.value, dict) and result.value.get("upload_url"):
                urls.append(str(result.value["upload_url"]))

        self._run([upload_server_call(abs(self.group_id), bulk=bulk) for _ in range(count)], got)
        return urls


def _photo_ids(value, expected: int) -> list[int] | None:
    """The photo ids of a save's answer (one for saveProductPhoto, one per file for the bulk save), or None."""
    values = value if isinstance(value, list) else [value]
    if len(values) != expected:
        return None
    ids = []
    for one in values:
        raw = (one.get("photo_id") or one.get("id")) if isinstance(one, dict) else one
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            return None
    return ids
