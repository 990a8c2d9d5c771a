"""Emulator of the Evotor cloud REST API v2 (stores, groups, products, images) with switchable faults.

Faithful to ../shared/reference/evotor-api.md. Choices where the reference leaves room:
- Accept: ``application/vnd.evotor.v2+json`` (parameters allowed) or no Accept header at all is v2;
  anything else (``*/*``, ``application/json``) gets 406, so a client that forgets the media type is
  caught (``requests`` sends ``*/*`` by default). ``strict_accept = False`` tolerates ``*/*``.
- Token: ``X-Authorization: <token>`` (the SDK's header) or ``Authorization: Bearer <token>``.
- Lists are cursor-paged with ``page_size`` items (default 5); a full page is followed by a
  ``next_cursor`` only when more items exist, the last page has ``"paging": {}``. Cursors are opaque,
  carry ``since``, and are invalidated by ``reset`` (400).
- ``since`` (epoch ms) returns products with ``updated_at`` strictly after it; removed products are
  simply absent (a client finds deletions by a full listing).
- Optional fields a product does not have (``description``, ``article_number``,
  ``attributes_choices``) are omitted, as the real API omits nulls.
- Images: ``{items, paging}`` with snake_case ``meta`` (the SDK shape); set ``images_list_shape =
  "bare"`` to get the documentation page's bare array with camelCase keys.
- Error body ``{"code", "message"}`` (``code`` is the HTTP status), plus ``violations`` on 400.
- Fault kinds: "5xx"/"500" (500), "502", "503", "504", "429" (with Retry-After), "slow" (answers
  after ``faults.slow_seconds``), "timeout" (sleeps ``faults.timeout_seconds``, then 504).
  ``faults.push(kind, method)`` targets one endpoint; method names: "stores", "product-groups",
  "products", "product", "images".
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from evosync.sandbox import datagen
from evosync.sandbox.evotor_model import OrderedRecords, StoreRecords, format_evotor_time
from evosync.sandbox.faults import Faults
from evosync.sandbox.images import IMAGE_SIZE, png_size, render_png

log = logging.getLogger(__name__)

V2_MEDIA_TYPE = "application/vnd.evotor.v2+json"
DEFAULT_PAGE_SIZE = 5
IMAGE_FILES_PREFIX = "/files/evotor"  # where server.py mounts the image files blueprint

_STORE_NAMES = (
    "Магазин у дома",
    "Продукты на Ленина",
    "Лавка «Семейная»",
    "Минимаркет 24 часа",
    "Гастроном №1",
)
_STORE_ADDRESSES = (
    "г. Москва, ул. Ленина, д. 1",
    "г. Екатеринбург, пр. Мира, д. 15",
    "г. Казань, ул. Баумана, д. 7",
    "г. Новосибирск, Красный пр., д. 40",
    "г. Пермь, ул. Пушкина, д. 3, пом. 2",
)


class EvotorState:
    """Everything the Evotor emulator knows: accounts, stores, catalog, faults, counters. Thread-safe."""

    def __init__(self, seed: int = 0):
        self._lock = threading.RLock()
        self.seed = seed
        self.faults = Faults(seed)
        self.public_base_url = ""  # set by Sandbox.start(); used for image urls built outside a request
        self.clock: Callable[[], int] = lambda: int(time.time() * 1000)
        self._init_data()

    def _init_data(self) -> None:
        self._epoch = getattr(self, "_epoch", 0) + 1
        self._tokens: dict[str, str] = {}  # token -> user_id
        self._revoked: set[str] = set()
        self._stores: dict[str, StoreRecords] = {}
        self._user_stores: dict[str, OrderedRecords] = {}
        self._image_index: dict[str, dict] = {}  # image id -> image record (for file downloads)
        self._last_tick = 0
        self._user_counter = 10409028
        self._rng = random.Random(f"evotor:{self.seed}")
        self._requests = 0
        self._errors = 0
        self._by_status: Counter[str] = Counter()
        self._paths: Counter[str] = Counter()
        self._image_downloads = 0
        self.request_log: deque[dict] = deque(maxlen=5000)
        self.page_size = DEFAULT_PAGE_SIZE
        self.strict_accept = True
        self.retry_after_seconds = 1  # Evotor says "30 minutes"; tests cannot wait that long
        self.images_list_shape = "paged"
        # Which token header the API accepts (a reading, see readings.py): "both", "x-authorization", "bearer".
        self.auth_header = "both"
        # Evotor's request rate per token (undocumented; 0 = none) and how its 429 says when to come back (a
        # reading): "seconds" (Retry-After: retry_after_seconds) or "absent" (no header: "30 minutes").
        self.rate_limit_per_second = 0
        self.retry_after_reading = "seconds"
        self._windows: dict[str, deque[float]] = {}
        self.rate_limited = 0  # 429s answered for the rate (not injected faults)

    def reset(self) -> None:
        """Forget every account, store, product, fault, counter and setting (cursors become invalid)."""
        with self._lock:
            self._init_data()
            self.faults.clear()

    # ---- accounts and stores -------------------------------------------------------------------

    def add_account(self, token: str, user_id: str | None = None) -> str:
        """Register a cloud token; a new Evotor user id like ``01-000000010409029`` unless given."""
        with self._lock:
            if user_id is None:
                self._user_counter += 1
                user_id = f"01-{self._user_counter:015d}"
            self._tokens[token] = user_id
            self._revoked.discard(token)
            self._user_stores.setdefault(user_id, OrderedRecords())
            return user_id

    def revoke_token(self, token: str) -> None:
        """The token answers 401 from now on."""
        with self._lock:
            self._revoked.add(token)

    def user_id_for(self, token: str) -> str:
        with self._lock:
            if token not in self._tokens:
                raise KeyError(f"unknown Evotor token {token!r}; call add_account first")
            return self._tokens[token]

    def add_store(self, token: str, name: str, store_id: str | None = None, address: str = "") -> dict:
        with self._lock:
            user_id = self.user_id_for(token)
            store_id = store_id or datagen.evotor_store_id(self._rng)
            now = self._tick()
            record = {
                "id": store_id,
                "name": name,
                "address": address,
                "user_id": user_id,
                "_created_ms": now,
                "_updated_ms": now,
            }
            self._stores[store_id] = StoreRecords(record)
            self._user_stores[user_id].put(store_id, record)
            return self._public(record)

    def remove_store(self, token: str, store_id: str) -> None:
        with self._lock:
            store = self._owned_store(token, store_id)
            for images in store.images.values():
                for image in images:
                    self._image_index.pop(image["id"], None)
            del self._stores[store_id]
            self._user_stores[store.record["user_id"]].remove(store_id)

    def set_payment_required(self, store_id: str, required: bool = True) -> None:
        """The store's endpoints answer 402 (the app is not paid for on that store)."""
        with self._lock:
            self._stores[store_id].payment_required = required

    # ---- groups ----------------------------------------------------------------------------------

    def add_group(
        self,
        token: str,
        store_id: str,
        name: str,
        parent_id: str | None = None,
        attributes: list[dict] | None = None,
        group_id: str | None = None,
        barcodes: list[str] | None = None,
        created_ms: int | None = None,
        updated_ms: int | None = None,
    ) -> dict:
        """Add a product group; one with ``attributes`` is a modification group (variants inside)."""
        with self._lock:
            store = self._owned_store(token, store_id)
            now = self._tick()
            record = {
                "id": group_id or datagen.stable_uuid(self._rng),
                "parent_id": parent_id,
                "name": name,
                "barcodes": list(barcodes or []),
                "store_id": store_id,
                "user_id": store.record["user_id"],
                "_created_ms": created_ms or now,
                "_updated_ms": updated_ms or now,
            }
            if attributes:
                record["attributes"] = attributes
            store.groups.put(record["id"], record)
            return self._public(record)

    def update_group(self, token: str, store_id: str, group_id: str, **fields) -> dict:
        with self._lock:
            record = self._owned_store(token, store_id).groups.items[group_id]
            record.update(fields)
            record["_updated_ms"] = self._tick()
            return self._public(record)

    def remove_group(self, token: str, store_id: str, group_id: str) -> None:
        with self._lock:
            if self._owned_store(token, store_id).groups.remove(group_id) is None:
                raise KeyError(group_id)

    def groups(self, store_id: str) -> list[dict]:
        """Inspection: every group of a store, as the API shows them."""
        with self._lock:
            return [self._public(r) for r in self._stores[store_id].groups]

    # ---- products --------------------------------------------------------------------------------

    def add_product(
        self,
        token: str,
        store_id: str,
        name: str,
        price: float,
        quantity: float = 0.0,
        parent_id: str | None = None,
        product_id: str | None = None,
        **fields,
    ) -> dict:
        """Add a product with v2 defaults for fields not given (``created_ms``/``updated_ms`` backdate it)."""
        with self._lock:
            store = self._owned_store(token, store_id)
            now = self._tick()
            created_ms = fields.pop("created_ms", None) or now
            updated_ms = fields.pop("updated_ms", None) or created_ms
            record = {
                "id": product_id or datagen.stable_uuid(self._rng),
                "name": name,
                "code": str(len(store.products) + 1),
                "barcodes": [],
                "price": price,
                "cost_price": 0.0,
                "quantity": quantity,
                "measure_name": "шт",
                "tax": "NO_VAT",
                "allow_to_sell": True,
                "parent_id": parent_id,
                "type": "NORMAL",
            }
            record.update(fields)
            record["store_id"] = store_id
            record["user_id"] = store.record["user_id"]
            record["_created_ms"] = created_ms
            record["_updated_ms"] = updated_ms
            store.products.put(record["id"], record)
            return self._public(record)

    def update_product(self, token: str, store_id: str, product_id: str, **fields) -> dict:
        """Change fields (None removes an optional field); ``updated_at`` moves to now."""
        with self._lock:
            record = self._owned_store(token, store_id).products.items[product_id]
            for key, value in fields.items():
                if value is None and key in ("description", "article_number", "attributes_choices"):
                    record.pop(key, None)
                else:
                    record[key] = value
            record["_updated_ms"] = self._tick()
            return self._public(record)

    def remove_product(self, token: str, store_id: str, product_id: str) -> None:
        with self._lock:
            store = self._owned_store(token, store_id)
            if store.products.remove(product_id) is None:
                raise KeyError(product_id)
            for image in store.images.pop(product_id, OrderedRecords()):
                self._image_index.pop(image["id"], None)

    def products(self, store_id: str) -> list[dict]:
        """Inspection: every product of a store, as the API shows them."""
        with self._lock:
            return [self._public(r) for r in self._stores[store_id].products]

    def product(self, store_id: str, product_id: str) -> dict:
        with self._lock:
            return self._public(self._stores[store_id].products.items[product_id])

    def stores(self, token: str) -> list[dict]:
        with self._lock:
            return [self._public(r) for r in self._user_stores[self.user_id_for(token)]]

    # ---- images ----------------------------------------------------------------------------------

    def add_image(self, token: str, store_id: str, product_id: str, png_bytes: bytes | None = None) -> dict:
        """Attach an image to a product; a real 300x300 PNG is drawn when ``png_bytes`` is None."""
        with self._lock:
            store = self._owned_store(token, store_id)
            if product_id not in store.products.items:
                raise KeyError(product_id)
            image_id = datagen.stable_uuid(self._rng)
            now = self._tick()
            record = {"id": image_id, "_png": png_bytes, "_created_ms": now, "_updated_ms": now}
            store.images.setdefault(product_id, OrderedRecords()).put(image_id, record)
            self._image_index[image_id] = record
            return self._public_image(record, self.public_base_url)

    def images(self, store_id: str, product_id: str) -> list[dict]:
        with self._lock:
            images = self._stores[store_id].images.get(product_id, OrderedRecords())
            return [self._public_image(r, self.public_base_url) for r in images]

    def image_bytes(self, image_id: str) -> bytes | None:
        with self._lock:
            record = self._image_index.get(image_id)
            if record is None:
                return None
            self._image_downloads += 1
        return record["_png"] if record["_png"] is not None else render_png(image_id)

    # ---- bulk data -------------------------------------------------------------------------------

    def seed_catalog(
        self,
        token: str,
        n_products: int,
        n_stores: int = 1,
        seed: int = 0,
        with_images_ratio: float = 0.2,
        oddities: bool = True,
    ) -> dict:
        """Create ``n_stores`` stores, each with the datagen group tree and ``n_products`` products.

        Timestamps are spread over the past two years (as a real catalog's would be), so any
        change made afterwards is newer than every seeded product. Returns
        ``{"user_id", "stores": [store ids], "groups", "products", "images"}`` (counts are totals).
        """
        with self._lock:
            if token not in self._tokens:
                self.add_account(token)
        summary = {"user_id": self.user_id_for(token), "stores": [], "groups": 0, "products": 0, "images": 0}
        for index in range(n_stores):
            store_seed = seed * 1000 + index
            rng = random.Random(f"store:{store_seed}")
            with self._lock:
                existing = len(self._user_stores[summary["user_id"]])
            store = self.add_store(
                token,
                _STORE_NAMES[(existing + index) % len(_STORE_NAMES)],
                store_id=datagen.evotor_store_id(rng),
                address=_STORE_ADDRESSES[(existing + index) % len(_STORE_ADDRESSES)],
            )
            summary["stores"].append(store["id"])
            self._seed_store(token, store["id"], n_products, store_seed, with_images_ratio, oddities, summary)
        return summary

    def _seed_store(self, token, store_id, n_products, seed, with_images_ratio, oddities, summary) -> None:
        groups = datagen.generate_groups(seed, datagen.modification_group_count(n_products))
        products = datagen.iter_products(
            n_products, seed=seed, groups=groups, with_images_ratio=with_images_ratio, oddities=oddities
        )
        with self._lock:
            now = self.clock()
            store = self._owned_store(token, store_id)
            user_id = store.record["user_id"]
            for group in groups:
                record = dict(group, store_id=store_id, user_id=user_id)
                record["_created_ms"] = record["_updated_ms"] = now - 800 * 86_400_000
                store.groups.put(record["id"], record)
            summary["groups"] += len(groups)
            image_rng = random.Random(f"images:{seed}")
            for product in products:
                image_count = product.pop("_image_count")
                created_ms = now - product.pop("_created_ago_ms")
                updated_ms = now - product.pop("_updated_ago_ms")
                product.update(store_id=store_id, user_id=user_id, _created_ms=created_ms, _updated_ms=updated_ms)
                store.products.put(product["id"], product)
                for _ in range(image_count):
                    image_id = datagen.stable_uuid(image_rng)
                    image = {
                        "id": image_id,
                        "_png": None,
                        "_created_ms": created_ms,
                        "_updated_ms": created_ms,
                    }
                    store.images.setdefault(product["id"], OrderedRecords()).put(image_id, image)
                    self._image_index[image_id] = image
                summary["images"] += image_count
                summary["products"] += 1

    # ---- inspection ------------------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        """A snapshot: requests, errors, by_status, paths (per route), image_downloads, faults."""
        with self._lock:
            return {
                "requests": self._requests,
                "errors": self._errors,
                "by_status": dict(self._by_status),
                "paths": dict(self._paths),
                "image_downloads": self._image_downloads,
                "faults": dict(self.faults.injected),
            }

    def now_ms(self) -> int:
        """A timestamp later than every change so far (and earlier than any change to come): a since value."""
        with self._lock:
            return self._tick()

    def logged_requests(self) -> list[dict]:
        """The latest API requests (method, path, query, status), oldest first."""
        with self._lock:
            return list(self.request_log)

    # ---- helpers used by the HTTP layer ----------------------------------------------------------

    def _tick(self) -> int:
        """Now in epoch ms, strictly increasing, so ``since`` always separates two changes."""
        self._last_tick = max(self.clock(), self._last_tick + 1)
        return self._last_tick

    def _owned_store(self, token: str, store_id: str) -> StoreRecords:
        store = self._stores.get(store_id)
        if store is None or store.record["user_id"] != self.user_id_for(token):
            raise KeyError(f"store {store_id!r} does not belong to this token")
        return store

    @staticmethod
    def _public(record: dict) -> dict:
        out = {k: v for k, v in record.items() if not k.startswith("_")}
        out["created_at"] = format_evotor_time(record["_created_ms"])
        out["updated_at"] = format_evotor_time(record["_updated_ms"])
        return out

    @staticmethod
    def _public_image(record: dict, base_url: str, camel_case: bool = False) -> dict:
        png = record["_png"] if record["_png"] is not None else render_png(record["id"])
        try:
            width, height = png_size(png)
        except ValueError:
            width = height = IMAGE_SIZE
        created = format_evotor_time(record["_created_ms"])
        updated = format_evotor_time(record["_updated_ms"])
        url = f"{base_url.rstrip('/')}{IMAGE_FILES_PREFIX}/{record['id']}.png"
        if camel_case:
            meta = {"extension": "png", "fileSize": len(png), "width": width, "height": height}
            return {"id": record["id"], "url": url, "meta": meta, "createdAt": created, "updatedAt": updated}
        meta = {"extension": "png", "file_size": len(png), "width": width, "height": height}
        return {"id": record["id"], "url": url, "meta": meta, "created_at": created, "updated_at": updated}

    def over_rate(self, token: str) -> bool:
        """Whether this request of ``token`` goes over the emulated rate (counted in the window if not)."""
        if not self.rate_limit_per_second:
            return False
        with self._lock:
            now = time.monotonic()
            window = self._windows.setdefault(token, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= self.rate_limit_per_second:
                self.rate_limited += 1
                return True
            window.append(now)
            return False

    def rate_limit_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)} if self.retry_after_reading == "seconds" else {}

    def _count(self, method: str, path: str, route: str, status: int) -> None:
        with self._lock:
            self._by_status[str(status)] += 1
            if status >= 400:
                self._errors += 1
            self.request_log.append({"method": method, "path": path, "route": route, "status": status})
