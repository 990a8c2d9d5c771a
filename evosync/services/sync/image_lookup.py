"""Evotor images looked up while a sync publishes, so an item gets its own photo the first time (issue 24).

A catalog refresh looks up at most ``EVOTOR_IMAGE_CHECKS_PER_REFRESH`` product images (one Evotor request each);
a merchant arriving with 10,000 products would otherwise see most of them published with the default photo and
put right refresh after refresh. So the sync looks up every image still due (never checked, or the product
changed since) of an item it is about to upload a photo for: in the upload threads, beside the VK batches, at
Evotor's pace (services/evotor_pace.py). The main thread writes what was found to the mirror (``take``), in the
same transaction as the photo it went into, so the next refresh and sync see an image already checked.

A long 429 (Evotor's "resume after 30 minutes") stops the look-ups for the run: the items left get the default
photo now, and the runner schedules a refresh that checks every image due, then a sync, as soon as Evotor
takes requests again (services/sync/runner.py).
"""

from __future__ import annotations

import copy
import logging
import threading

import requests
import sqlalchemy as sa

from ...clients.errors import EvotorError, EvotorNotFound, EvotorRateLimited
from ...clients.evotor import EvotorClient
from ...extensions import db
from ...models import CachedProduct
from . import plan_model as p
from .loader import image_key

log = logging.getLogger(__name__)


class ImageLookup:
    """One run's look-ups. ``image_of`` is called from upload threads; ``use_due`` and ``take`` from the main one."""

    def __init__(self, client: EvotorClient | None, user_id: int):
        self._client = client
        self.user_id = user_id
        self._local = threading.local()
        self._lock = threading.Lock()
        self._due: dict[p.Key, tuple[int, str]] = {}  # product -> (mirror row id, the updated_at it is due for)
        self._found: list[dict] = []  # rows for the mirror, until the main thread takes them
        self._known: dict[p.Key, tuple[str | None, str | None]] = {}
        self.looked_up = 0
        self.failed = 0
        self.stopped_for: float | None = None  # Retry-After of the long 429 that stopped the look-ups

    def use_due(self, due: dict[p.Key, tuple[int, str]]) -> None:
        """The products whose image is due, as the mirror has them now (a new pass reads them again)."""
        with self._lock:
            self._due = due

    def image_of(self, key: p.Key) -> tuple[str | None, str | None] | None:
        """(image key, url) of the product's Evotor image, looked up now; (None, None) when it has none. None when
        its image is not due or the look-up failed: the caller uses what the mirror knows."""
        with self._lock:
            if key in self._known:  # looked up earlier in this run (its photo is being made again)
                return self._known[key]
            due = self._due.pop(key, None)
            stopped = self.stopped_for is not None
        if due is None or stopped or self._client is None:
            return None
        row_id, checked_for = due
        store_id, product_id = key
        try:
            image = next(iter(self._thread_client().iter_product_images(store_id, product_id)), None)
        except EvotorNotFound:  # removed since the mirror read: the next refresh drops it
            return None
        except EvotorRateLimited as exc:  # longer than we wait: no more look-ups this run
            with self._lock:
                if self.stopped_for is None:
                    self.stopped_for = exc.retry_after
            log.warning(
                "evotor rate limit: image look-ups stopped for this run",
                extra={"user_id": self.user_id, "retry_after": exc.retry_after},
            )
            return None
        except EvotorError as exc:
            with self._lock:
                self.failed += 1
            log.warning("evotor image look-up failed", extra={"user_id": self.user_id, "error": type(exc).__name__})
            return None
        image_id = _text(image.get("id"), 64) if image else None
        url = _text(image.get("url"), 1024) if image else None
        updated_at = _text(image.get("updated_at") or image.get("created_at"), 40) if image else None
        found = image_key(image_id, updated_at), url
        with self._lock:
            self.looked_up += 1
            self._known[key] = found
            self._found.append(
                {
                    "id": row_id,
                    "image_id": image_id,
                    "image_url": url,
                    "image_updated_at": updated_at,
                    "image_checked_for": checked_for,
                }
            )
        return found

    def take(self) -> int:
        """Write what the threads found to the mirror (not committed: the caller's transaction). How many."""
        with self._lock:
            found, self._found = self._found, []
        if found:
            db.session.execute(sa.update(CachedProduct), found)
        return len(found)

    def summary(self) -> dict:
        return {"looked_up": self.looked_up, "failed": self.failed, "stopped_for_seconds": self.stopped_for}

    def _thread_client(self) -> EvotorClient:
        client = getattr(self._local, "client", None)
        if client is None:  # each thread its own HTTP session; the pace (Redis) stays shared
            client = copy.copy(self._client)
            client.session = requests.Session()
            self._local.client = client
        return client


def images_due(user_id: int) -> dict[p.Key, tuple[int, str]]:
    """The merchant's products whose image was never looked up, or not since the product last changed."""
    updated = sa.func.coalesce(CachedProduct.evotor_updated_at, "")
    rows = db.session.execute(
        sa.select(CachedProduct.id, CachedProduct.store_evotor_id, CachedProduct.evotor_id, updated.label("updated"))
        .where(CachedProduct.user_id == user_id)
        .where(sa.or_(CachedProduct.image_checked_for.is_(None), CachedProduct.image_checked_for != updated))
    )
    return {(r.store_evotor_id, r.evotor_id): (r.id, r.updated) for r in rows}


def _text(value, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None
