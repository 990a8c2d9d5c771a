"""The mirror writer: one merchant's stores, groups and products from Evotor into cached_stores/groups/products.

Streamed page by page and written in bulk chunks (one SELECT of the chunk's existing rows, one bulk INSERT, one
bulk UPDATE by primary key; plain SQLAlchemy, so SQLite and MariaDB behave alike). Rows Evotor no longer lists are
removed only after a *complete* listing of that store. Images: at most ``image_checks`` look-ups per refresh.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
import sqlalchemy as sa

from ...clients.errors import EvotorNotFound, EvotorPaymentRequired
from ...clients.evotor import EvotorClient
from ...extensions import db
from ...models import CachedGroup, CachedProduct, CachedStore, SyncFilter, utcnow
from .summary import GROUP_FIELDS, RefreshSummary, SkippedStore
from .versions import bump_content_version, bump_groups_version

log = logging.getLogger(__name__)

LOOKUP_THREADS = 4  # image look-ups in flight at once (Evotor's pace per token is kept by the client's limiter)


class Mirror:
    """One user's refresh run; counts go into the summary as they happen."""

    def __init__(self, user_id: int, client: EvotorClient, chunk_size: int, image_checks: int, summary: RefreshSummary):
        self.user_id = user_id
        self.client = client
        self.chunk_size = max(1, chunk_size)
        self.image_budget = max(0, image_checks)
        self.summary = summary

    def run(self) -> None:
        stores = self._mirror_stores()
        for store in stores:
            try:
                self._mirror_store(store["id"])
            except EvotorPaymentRequired:
                log.debug("catalog refresh: store needs payment, skipped", extra={"user_id": self.user_id})
                db.session.rollback()
                self._set_store_flags(store["id"], payment_required=True)
                self.summary.skipped_stores.append(
                    SkippedStore(store["id"], store["name"], "payment required (HTTP 402)")
                )
            except EvotorNotFound:
                db.session.rollback()
                self.summary.skipped_stores.append(
                    SkippedStore(store["id"], store["name"], "store vanished (HTTP 404)")
                )
            else:
                self._set_store_flags(store["id"], payment_required=False, refreshed=True)
        self.summary.images_pending = self._count_images_pending()

    # -- stores

    def _mirror_stores(self) -> list[dict]:
        listed = []
        for item in self.client.iter_stores():
            listed.append(
                {
                    "id": str(item["id"]),
                    "name": _clip(item.get("name"), 255),
                    "address": _clip(item.get("address"), 512),
                    "evotor_updated_at": item.get("updated_at"),
                }
            )
        existing = {s.evotor_id: s for s in db.session.scalars(sa.select(CachedStore).filter_by(user_id=self.user_id))}
        for row in listed:
            store = existing.pop(row["id"], None)
            if store is None:
                db.session.add(
                    CachedStore(
                        user_id=self.user_id,
                        evotor_id=row["id"],
                        name=row["name"],
                        address=row["address"],
                        evotor_updated_at=row["evotor_updated_at"],
                    )
                )
                self.summary.stores_added += 1
            elif (store.name, store.address, store.evotor_updated_at) != (
                row["name"],
                row["address"],
                row["evotor_updated_at"],
            ):
                store.name, store.address = row["name"], row["address"]
                store.evotor_updated_at = row["evotor_updated_at"]
                self.summary.stores_updated += 1
        for gone in existing.values():  # the full list came back: what is missing was removed in Evotor
            self._remove_store(gone.evotor_id)
            db.session.delete(gone)
            self.summary.stores_removed += 1
        db.session.commit()
        return listed

    def _remove_store(self, store_id: str) -> None:
        for model in (CachedProduct, CachedGroup):
            db.session.execute(sa.delete(model).filter_by(user_id=self.user_id, store_evotor_id=store_id))
        db.session.execute(
            sa.delete(SyncFilter).where(
                SyncFilter.user_id == self.user_id,
                sa.or_(
                    sa.and_(SyncFilter.entity_type == "store", SyncFilter.entity_id == store_id),
                    sa.and_(SyncFilter.entity_type == "group", SyncFilter.parent_entity_id == store_id),
                ),
            )
        )

    def _set_store_flags(self, store_id: str, payment_required: bool, refreshed: bool = False) -> None:
        values: dict[str, Any] = {"payment_required": payment_required}
        if refreshed:
            values["refreshed_at"] = utcnow()
        db.session.execute(sa.update(CachedStore).filter_by(user_id=self.user_id, evotor_id=store_id).values(**values))
        db.session.commit()

    # -- one store

    def _mirror_store(self, store_id: str) -> None:
        self._mirror_groups(store_id)
        self._mirror_products(store_id)
        self._check_images(store_id)

    def _mirror_groups(self, store_id: str) -> None:
        rows = {}
        for item in self.client.iter_groups(store_id):
            row = {
                "parent_id": _str_or_none(item.get("parent_id")),
                "name": _clip(item.get("name"), 255),
                "attributes": item.get("attributes") or None,
                "evotor_updated_at": item.get("updated_at"),
            }
            rows[str(item["id"])] = row
        existing = {
            r.evotor_id: r
            for r in db.session.execute(
                sa.select(
                    CachedGroup.id, CachedGroup.evotor_id, *(getattr(CachedGroup, f) for f in GROUP_FIELDS)
                ).filter_by(user_id=self.user_id, store_evotor_id=store_id)
            )
        }
        now = utcnow()
        inserts, updates = [], []
        for gid, row in rows.items():
            old = existing.pop(gid, None)
            if old is None:
                inserts.append(
                    {"user_id": self.user_id, "store_evotor_id": store_id, "evotor_id": gid, "refreshed_at": now, **row}
                )
            elif any(getattr(old, f) != row[f] for f in GROUP_FIELDS):
                updates.append({"id": old.id, "refreshed_at": now, **row})
        _bulk_write(CachedGroup, inserts, updates)
        if inserts or updates or existing:
            bump_groups_version(self.user_id, store_id)
        if existing:
            gone_ids = list(existing)
            for part in _chunks(gone_ids, self.chunk_size):
                db.session.execute(
                    sa.delete(CachedGroup).where(
                        CachedGroup.user_id == self.user_id,
                        CachedGroup.store_evotor_id == store_id,
                        CachedGroup.evotor_id.in_(part),
                    )
                )
                db.session.execute(
                    sa.delete(SyncFilter).where(
                        SyncFilter.user_id == self.user_id,
                        SyncFilter.entity_type == "group",
                        SyncFilter.entity_id.in_(part),
                    )
                )
        db.session.commit()
        self.summary.groups_added += len(inserts)
        self.summary.groups_updated += len(updates)
        self.summary.groups_removed += len(existing)

    def _mirror_products(self, store_id: str) -> None:
        seen: set[str] = set()  # ids only: about 100 bytes each, the one thing that grows with the store
        # Evotor moves updated_at on every change, so an equal updated_at means an equal row: reading three
        # narrow columns instead of every field (JSON, decimals) halves the cost of an unchanged refresh.
        columns = (CachedProduct.id, CachedProduct.evotor_id, CachedProduct.evotor_updated_at)
        for chunk in _chunks(self.client.iter_products(store_id), self.chunk_size):
            rows: dict[str, dict] = {}
            for item in chunk:
                rows[str(item["id"])] = product_row(item)
            seen.update(rows)
            self.summary.products_seen += len(chunk)
            existing = {
                r.evotor_id: r
                for r in db.session.execute(
                    sa.select(*columns).where(
                        CachedProduct.user_id == self.user_id,
                        CachedProduct.store_evotor_id == store_id,
                        CachedProduct.evotor_id.in_(list(rows)),
                    )
                )
            }
            now = utcnow()
            inserts, updates = [], []
            for pid, row in rows.items():
                old = existing.get(pid)
                if old is None:
                    inserts.append(
                        {
                            "user_id": self.user_id,
                            "store_evotor_id": store_id,
                            "evotor_id": pid,
                            "refreshed_at": now,
                            **row,
                        }
                    )
                elif old.evotor_updated_at is None or old.evotor_updated_at != row["evotor_updated_at"]:
                    updates.append({"id": old.id, "refreshed_at": now, **row})
            _bulk_write(CachedProduct, inserts, updates)
            if inserts:
                add_to_product_count(self.user_id, store_id, len(inserts))
            if inserts or updates:
                bump_content_version(self.user_id, store_id)
            db.session.commit()
            self.summary.products_added += len(inserts)
            self.summary.products_updated += len(updates)
        self._remove_vanished_products(store_id, seen)

    def _remove_vanished_products(self, store_id: str, seen: set[str]) -> None:
        stored = db.session.execute(
            sa.select(CachedProduct.id, CachedProduct.evotor_id).filter_by(
                user_id=self.user_id, store_evotor_id=store_id
            )
        )
        gone = [row.id for row in stored if row.evotor_id not in seen]
        for part in _chunks(gone, self.chunk_size):
            db.session.execute(sa.delete(CachedProduct).where(CachedProduct.id.in_(part)))
        if gone:
            bump_content_version(self.user_id, store_id)
        recount_products(self.user_id, store_id)
        db.session.commit()
        self.summary.products_removed += len(gone)

    # -- images

    def _images_due(self):
        return sa.or_(
            CachedProduct.image_checked_for.is_(None),
            CachedProduct.image_checked_for != sa.func.coalesce(CachedProduct.evotor_updated_at, ""),
        )

    def _check_images(self, store_id: str) -> None:
        if self.image_budget <= 0:
            return
        due = db.session.execute(
            sa.select(CachedProduct.id, CachedProduct.evotor_id, CachedProduct.evotor_updated_at)
            .where(CachedProduct.user_id == self.user_id, CachedProduct.store_evotor_id == store_id, self._images_due())
            .order_by(CachedProduct.id)
            .limit(self.image_budget)
        ).all()
        local = threading.local()

        def look_up(row) -> dict | None:
            """In a look-up thread, with the thread's own HTTP session (the token's pace stays shared)."""
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = copy.copy(self.client)
                client.session = requests.Session()
            try:
                image = next(iter(client.iter_product_images(store_id, row.evotor_id)), None)
            except EvotorNotFound:  # removed since the listing: the next refresh drops the row
                return None
            return {
                "id": row.id,
                "image_id": _str_or_none(image and image.get("id")),
                "image_url": _clip(image.get("url"), 1024) if image else None,
                "image_updated_at": (image.get("updated_at") or image.get("created_at")) if image else None,
                "image_checked_for": row.evotor_updated_at or "",
            }

        # A few look-ups at once, each chunk written in one bulk UPDATE. A 429 that Evotor asks us to wait out
        # longer than the client does (EvotorRateLimited) ends the refresh as before: the merchant is paused.
        with ThreadPoolExecutor(max_workers=LOOKUP_THREADS, thread_name_prefix="evotor-images") as pool:
            for part in _chunks(due, 100):
                updates = [found for found in pool.map(look_up, part) if found is not None]
                if updates:
                    _bulk_write(CachedProduct, [], updates)
                    bump_content_version(self.user_id, store_id)
                    db.session.commit()
                self.image_budget -= len(part)
                self.summary.images_checked += len(updates)

    def _count_images_pending(self) -> int:
        return db.session.scalar(
            sa.select(sa.func.count())
            .select_from(CachedProduct)
            .where(CachedProduct.user_id == self.user_id, self._images_due())
        )


def recount_products(user_id: int, store_id: str) -> None:
    """Set the store's ``product_count`` from the mirror, in one statement (not committed)."""
    count = (
        sa.select(sa.func.count())
        .select_from(CachedProduct)
        .where(CachedProduct.user_id == user_id, CachedProduct.store_evotor_id == store_id)
        .scalar_subquery()
    )
    db.session.execute(
        sa.update(CachedStore)
        .filter_by(user_id=user_id, evotor_id=store_id)
        .values(product_count=count)
        .execution_options(synchronize_session=False)
    )


def add_to_product_count(user_id: int, store_id: str, delta: int) -> None:
    """Move the store's ``product_count`` by ``delta`` (never below 0), atomically (not committed)."""
    moved = CachedStore.product_count + delta
    db.session.execute(
        sa.update(CachedStore)
        .filter_by(user_id=user_id, evotor_id=store_id)
        .values(product_count=sa.case((moved < 0, 0), else_=moved))
        .execution_options(synchronize_session=False)
    )


def _bulk_write(model: type, inserts: list[dict], updates: list[dict]) -> None:
    """One executemany INSERT and one executemany UPDATE by primary key, in Core (the ORM bulk path is
    several times slower here). Update dicts carry ``id`` and the same set of columns each."""
    table = model.__table__
    if inserts:
        db.session.execute(table.insert(), inserts)
    if updates:
        columns = [k for k in updates[0] if k != "id"]
        statement = (
            table.update()
            .where(table.c.id == sa.bindparam("_pk"))
            .values({c: sa.bindparam(f"_v_{c}") for c in columns})
        )
        db.session.execute(statement, [{"_pk": u["id"], **{f"_v_{c}": u[c] for c in columns}} for u in updates])


def product_row(item: dict) -> dict[str, Any]:
    """The cached_products columns for one Evotor v2 product (without the key columns)."""
    barcodes = [str(b) for b in item.get("barcodes") or [] if b is not None and str(b).strip()]
    return {
        "parent_id": _str_or_none(item.get("parent_id")),
        "name": _clip(item.get("name"), 255),
        "code": _clip(item.get("code"), 64),
        "article_number": _clip(item.get("article_number"), 128),
        "barcodes": barcodes,
        "barcodes_text": _clip(" ".join(barcodes), 512),
        "price": _decimal(item.get("price"), "0.01") or Decimal("0.00"),
        "cost_price": _decimal(item.get("cost_price"), "0.01"),
        "quantity": _decimal(item.get("quantity"), "0.001"),
        "measure_name": _clip(item.get("measure_name"), 32),
        "tax": _clip(item.get("tax"), 32),
        "allow_to_sell": bool(item.get("allow_to_sell", True)),
        "description": str(item.get("description") or ""),
        "type": _clip(item.get("type"), 32) or "NORMAL",
        "attributes_choices": item.get("attributes_choices") or None,
        "evotor_updated_at": item.get("updated_at"),
    }


def _clip(value: Any, length: int) -> str:
    return "" if value is None else str(value)[:length]


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _decimal(value: Any, places: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).quantize(Decimal(places))
    except (InvalidOperation, ValueError):
        return None


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
