"""Photos for the items of a plan (a mixin of Applier): the bytes (Evotor image or default), uploads in a few
threads, saves batched in ``execute`` where VK takes them, one photo per item."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import requests

from ...clients.errors import ImageError, VkApiError
from ...clients.photos import prepare_product_image
from ...clients.vk import EXECUTE_MAX_CALLS, VkCall, VkCallResult
from ...extensions import db
from . import plan_model as p
from .apply_common import FATAL_ERRORS, TRANSIENT_ERRORS, SyncStopped, chunks

log = logging.getLogger(__name__)

PHOTO_WINDOW = 10 * EXECUTE_MAX_CALLS  # items whose photos are uploaded, saved and used together
UPLOAD_THREADS = 4  # photo uploads in flight at once (the upload server is not under the API's rate limit)


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


class PhotosMixin:
    """Needs from the Applier: ``client``, ``group_id``, ``owner_id``, ``photos``, ``result``, ``_run``, ``_links``."""

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
