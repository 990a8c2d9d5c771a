"""The emulated photo upload: the upload server, the upload itself, and saving the photo (one per item).

Bulk flow (``market.getProductPhotoUploadServer(bulk=1)``, files ``file1``..``fileN`` in one POST,
``market.saveProductPhotoBulk``): the readings ``photo_bulk``, ``photo_bulk_max_files`` and ``upload_url_reuse``
decide whether the method exists, how many files one upload takes and whether an address serves twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import time

from PIL import Image, UnidentifiedImageError

from evosync.sandbox.vk_model import (
    MAX_PHOTO_BYTES,
    MAX_PHOTO_SIDES_SUM,
    MIN_PHOTO_SIDE,
    _Ctx,
    _invalid,
    _Photo,
    _Upload,
)

log = logging.getLogger(__name__)


class PhotosMixin:
    """A part of VkState (evosync/sandbox/vk.py): it uses the state's lock and records."""

    # ------------------------------------------------------------------ photos
    def _get_upload_server(self, params: dict[str, str], ctx: _Ctx) -> dict:
        group_id = self._int(params, "group_id", required=True)
        if group_id <= 0:
            raise _invalid("group_id should be positive")
        community = self._community_checked(group_id, ctx, write=True)
        bulk = params.get("bulk", "").strip().lower() in ("1", "true")
        key = secrets.token_urlsafe(12)
        self._upload_servers[key] = (community.id, bulk)
        return {"upload_url": f"{ctx.vk_base}/upload/product_photo?k={key}"}

    def receive_upload(self, key: str, files: list[bytes]) -> dict:
        """The upload server: check the files like VK does and answer the JSON to pass to save*.

        A plain address takes the first file; a ``bulk`` one up to ``photo_bulk_max_files`` files (more are
        refused whole) and answers them all in ``photos_list``, in the order of their field numbers.
        """
        with self.lock:
            self._stats["uploads"] += 1
            server = self._upload_servers.get(key)
            if server is not None and not self.readings.upload_url_reuse:
                del self._upload_servers[key]  # one upload per address under this reading
        if server is None:
            return {"error": "ERR_UPLOAD_BAD_URL: upload url is invalid or expired"}
        group_id, bulk = server
        files = [data for data in files if data]
        if not files:
            return {"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: file not uploaded"}
        if not bulk:
            return self._receive_file(group_id, files[0])
        limit = self.readings.photo_bulk_max_files
        if len(files) > limit:
            return {"error": f"ERR_UPLOAD_TOO_MANY_FILES: at most {limit} files per upload"}
        received = [self._receive_file(group_id, data) for data in files]
        for answer in received:
            if "error" in answer:
                return answer
        photos = [{"photo": answer["photo"], "hash": answer["hash"]} for answer in received]
        return {"server": 606, "photos_list": json.dumps(photos), "group_id": group_id, "bulk": 1}

    def _receive_file(self, group_id: int, data: bytes) -> dict:
        if len(data) > MAX_PHOTO_BYTES:
            return {"error": "ERR_UPLOAD_FILE_TOO_BIG: file is larger than 50 MB"}
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
                width, height = image.size
                image.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            return {"error": "ERR_UPLOAD_BAD_IMAGE_FORMAT: file is not a JPG, PNG or GIF image"}
        mimetypes = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif"}
        if image_format not in mimetypes:
            return {"error": "ERR_UPLOAD_BAD_IMAGE_FORMAT: file is not a JPG, PNG or GIF image"}
        if width < MIN_PHOTO_SIDE or height < MIN_PHOTO_SIDE or width + height > MAX_PHOTO_SIDES_SUM:
            return {
                "error": "ERR_UPLOAD_BAD_IMAGE_SIZE: market photo min size "
                f"{MIN_PHOTO_SIDE}x{MIN_PHOTO_SIDE}, width+height <= {MAX_PHOTO_SIDES_SUM}; "
                f"got {width}x{height}"
            }
        photo_key = secrets.token_hex(16)
        digest = hashlib.sha256(data).hexdigest()
        upload = _Upload(group_id, width, height, mimetypes[image_format], digest, hash=secrets.token_hex(16))
        with self.lock:
            # One copy per content: a fleet uploads the same default photo for thousands of items.
            self._photo_files.setdefault(digest, data)
            self._uploads[photo_key] = upload
        return {
            "server": 606,
            "photo": photo_key,
            "hash": upload.hash,
            "group_id": group_id,
            "crop_data": "",
            "crop_hash": "",
        }

    def _save_upload(self, photo_key: str, hash_: str, ctx: _Ctx, group_id: int | None) -> _Photo:
        upload = self._uploads.get(photo_key)
        if upload is None or upload.hash != hash_ or upload.saved:
            raise _invalid("upload_response is invalid or already saved")
        if group_id is not None and group_id != upload.group_id:
            raise _invalid("group_id does not match the upload")
        self._community_checked(upload.group_id, ctx, write=True)
        upload.saved = True
        photo = _Photo(
            id=self._next_photo_id,
            owner_id=-upload.group_id,
            width=upload.width,
            height=upload.height,
            mimetype=upload.mimetype,
            digest=upload.digest,
            date=int(time.time()),
        )
        self._next_photo_id += 1
        self._photos[photo.id] = photo
        return photo

    def _save_product_photo(self, params: dict[str, str], ctx: _Ctx) -> dict:
        raw = params.get("upload_response", "")
        if not raw.strip():
            raise _invalid("upload_response is undefined")
        try:
            upload = json.loads(raw)
        except json.JSONDecodeError:
            raise _invalid("upload_response is not JSON") from None
        if not isinstance(upload, dict) or "error" in upload:
            raise _invalid("upload_response is invalid")
        photo = self._save_upload(str(upload.get("photo", "")), str(upload.get("hash", "")), ctx, None)
        return {"photo_id": photo.id, "photo": self._photo_json(photo, ctx.vk_base)}

    def _save_product_photo_bulk(self, params: dict[str, str], ctx: _Ctx) -> list[dict]:
        raw = params.get("upload_response", "")
        if not raw.strip():
            raise _invalid("upload_response is undefined")
        try:
            upload = json.loads(raw)
            listed = json.loads(upload["photos_list"]) if isinstance(upload, dict) else None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise _invalid("upload_response is not a bulk upload") from None
        if not isinstance(listed, list) or not listed or "error" in upload:
            raise _invalid("upload_response is invalid")
        for entry in listed:  # all or nothing: check every file before saving any
            found = self._uploads.get(str(entry.get("photo", ""))) if isinstance(entry, dict) else None
            if found is None or found.hash != str(entry.get("hash", "")) or found.saved:
                raise _invalid("upload_response is invalid or already saved")
        photos = [self._save_upload(str(e["photo"]), str(e["hash"]), ctx, None) for e in listed]
        return [{"photo_id": photo.id, "photo": self._photo_json(photo, ctx.vk_base)} for photo in photos]

    def _save_market_photo_legacy(self, params: dict[str, str], ctx: _Ctx) -> list[dict]:
        group_id = self._int(params, "group_id", required=True)
        for required in ("photo", "server", "hash"):
            if not params.get(required, "").strip():
                raise _invalid(f"{required} is undefined")
        photo = self._save_upload(params["photo"], params["hash"], ctx, group_id)
        return [self._photo_json(photo, ctx.vk_base)]
