"""The Evotor catalog mirror (stores, groups, products) and the merchant's publish toggles over it.

Refresh, in short: ``GET /stores`` then, per store, its groups and its products, streamed page by
page and written in bulk chunks (one SELECT of the chunk's existing rows, one bulk INSERT, one bulk
UPDATE by primary key; plain SQLAlchemy, so SQLite and MariaDB behave alike). Rows Evotor no longer
lists are removed, but only after a *complete* listing of that store (an interrupted listing removes
nothing). Memory holds one chunk plus the set of product ids seen in the current store.

Images cost one request per product, too many for 50,000 products every hour. A product's images
are looked up when it is new or its Evotor ``updated_at`` moved since the last look-up
(``image_checked_for`` remembers the ``updated_at`` that was checked), at most
``EVOTOR_IMAGE_CHECKS_PER_REFRESH`` look-ups per refresh; the rest are caught up by later refreshes.
Only the first image is kept (image_id, image_url, image_updated_at).

Toggles (``sync_filters``): a store without a row is disabled; a group without a row is enabled; a
group is effectively enabled only when its store and every group above it are enabled.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..clients.errors import (
    EvotorAuthError,
    EvotorError,
    EvotorNotFound,
    EvotorPaymentRequired,
    EvotorRateLimited,
)
from ..clients.evotor import EvotorClient
from ..extensions import db
from ..models import (
    CachedGroup,
    CachedProduct,
    CachedStore,
    ConnectionState,
    EvotorConnection,
    SyncFilter,
    SyncLink,
    utcnow,
)

log = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Mark a message for translation without translating it now.

    Messages stored in the database are kept as their English msgid (refreshes run in workers,
    outside any request and its language) and translated when a page shows them: ``_(conn.last_error)``.
    """
    return message


CHUNK_SIZE = 500
DEFAULT_IMAGE_CHECKS_PER_REFRESH = 1000

# Outcomes of one user's refresh.
OK = "ok"
NOT_CONNECTED = "not_connected"
PAUSED = "paused"
BROKEN = "broken"
FAILED = "failed"

GROUP_FIELDS = ("parent_id", "name", "attributes", "evotor_updated_at")


class CatalogNotFound(LookupError):
    """The store or group does not exist in this user's mirror (or belongs to someone else)."""


@dataclass
class SkippedStore:
    store_id: str
    name: str
    reason: str


@dataclass
class RefreshSummary:
    """What one user's refresh did; ``status`` is ok, not_connected, paused, broken or failed."""

    user_id: int
    status: str = OK
    reason: str = ""
    stores_added: int = 0
    stores_updated: int = 0
    stores_removed: int = 0
    groups_added: int = 0
    groups_updated: int = 0
    groups_removed: int = 0
    products_added: int = 0
    products_updated: int = 0
    products_removed: int = 0
    products_seen: int = 0
    images_checked: int = 0
    images_pending: int = 0
    skipped_stores: list[SkippedStore] = field(default_factory=list)
    paused_until: dt.datetime | None = None
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paused_until"] = self.paused_until.isoformat() if self.paused_until else None
        return data

    def lines(self) -> list[str]:
        """A human summary, one fact a line (the CLI prints it)."""
        head = f"user {self.user_id}: {self.status}" + (f" ({self.reason})" if self.reason else "")
        out = [head]
        if self.status in (OK, FAILED, BROKEN, PAUSED) and (self.products_seen or self.stores_added):
            out.append(
                f"  stores +{self.stores_added} ~{self.stores_updated} -{self.stores_removed}; "
                f"groups +{self.groups_added} ~{self.groups_updated} -{self.groups_removed}; "
                f"products +{self.products_added} ~{self.products_updated} -{self.products_removed} "
                f"({self.products_seen} listed); images checked {self.images_checked}, "
                f"pending {self.images_pending}"
            )
        for skipped in self.skipped_stores:
            out.append(f"  skipped store {skipped.store_id} {skipped.name!r}: {skipped.reason}")
        out.append(f"  took {self.duration_seconds:.2f}s")
        return out


# ----------------------------------------------------------------------------------------- refresh


def refresh_catalog(
    user_id: int,
    client: EvotorClient | None = None,
    *,
    chunk_size: int = CHUNK_SIZE,
    image_checks: int | None = None,
) -> RefreshSummary:
    """Mirror one user's Evotor catalog into cached_stores/groups/products; never raises EvotorError.

    ``client`` defaults to ``evotor_client_for(connection)``; ``image_checks`` to the config's
    EVOTOR_IMAGE_CHECKS_PER_REFRESH. Auth errors mark the connection broken, a 429 pauses it,
    a 402 skips that store only; other Evotor errors fail this user's refresh with a logged reason.
    """
    started = time.monotonic()
    summary = RefreshSummary(user_id=user_id)
    try:
        _refresh(user_id, client, chunk_size, image_checks, summary)
    finally:
        summary.duration_seconds = round(time.monotonic() - started, 3)
    log.info(
        "catalog refresh finished",
        extra={"user_id": user_id, "status": summary.status, "summary": summary.as_dict()},
    )
    return summary


def _refresh(
    user_id: int, client: EvotorClient | None, chunk_size: int, image_checks: int | None, summary: RefreshSummary
) -> None:
    conn = db.session.execute(sa.select(EvotorConnection).filter_by(user_id=user_id)).scalar_one_or_none()
    if conn is None or not conn.access_token or conn.state == ConnectionState.NOT_CONNECTED:
        summary.status, summary.reason = NOT_CONNECTED, "Evotor is not connected"
        return
    if conn.state == ConnectionState.BROKEN:
        summary.status, summary.reason = BROKEN, "the Evotor connection needs the merchant's attention"
        return
    now = utcnow()
    if conn.paused_until and conn.paused_until > now:
        summary.status, summary.paused_until = PAUSED, conn.paused_until
        summary.reason = f"paused until {conn.paused_until:%Y-%m-%d %H:%M:%S} UTC (Evotor rate limit)"
        return
    if client is None:
        from .connections import evotor_client_for  # written by the connections team

        client = evotor_client_for(conn)
    if image_checks is None:
        image_checks = current_app.config.get("EVOTOR_IMAGE_CHECKS_PER_REFRESH", DEFAULT_IMAGE_CHECKS_PER_REFRESH)
    mirror = _Mirror(user_id, client, chunk_size, image_checks, summary)
    try:
        mirror.run()
    except EvotorAuthError as exc:
        db.session.rollback()
        _mark_broken(user_id, exc)
        summary.status, summary.reason = BROKEN, f"Evotor refused the token (HTTP {exc.status})"
        log.warning("catalog refresh: Evotor auth failed", extra={"user_id": user_id, "status": exc.status})
    except EvotorRateLimited as exc:
        db.session.rollback()
        summary.paused_until = _pause(user_id, exc.retry_after)
        summary.status = PAUSED
        summary.reason = f"Evotor rate limit: paused until {summary.paused_until:%Y-%m-%d %H:%M:%S} UTC"
        log.warning("catalog refresh: Evotor rate limit", extra={"user_id": user_id, "retry_after": exc.retry_after})
    except EvotorError as exc:
        db.session.rollback()
        _record_failure(user_id, N_("Evotor did not answer properly; we will try again at the next refresh."))
        summary.status, summary.reason = FAILED, f"{type(exc).__name__}: {exc}"
        log.warning(
            "catalog refresh failed", extra={"user_id": user_id, "error": type(exc).__name__, "reason": str(exc)}
        )
    else:
        conn = db.session.get(EvotorConnection, conn.id)
        conn.last_ok_at = utcnow()
        conn.paused_until = None
        conn.last_error = None
        conn.last_error_at = None
        db.session.commit()


def _connection(user_id: int) -> EvotorConnection:
    return db.session.execute(sa.select(EvotorConnection).filter_by(user_id=user_id)).scalar_one()


def _mark_broken(user_id: int, exc: EvotorAuthError) -> None:
    conn = _connection(user_id)
    conn.state = ConnectionState.BROKEN
    if exc.status == 403:
        conn.last_error = N_(
            "Evotor refused access: the EvoSync app is not installed or lacks rights in your Evotor account. "
            "Install it in the Evotor app store, then reconnect Evotor on the Connections page."
        )
    else:
        conn.last_error = N_(
            "Evotor no longer accepts our access key (it was revoked or has expired). "
            "Please reconnect Evotor on the Connections page."
        )
    conn.last_error_at = utcnow()
    db.session.commit()


def _pause(user_id: int, retry_after: float) -> dt.datetime:
    conn = _connection(user_id)
    until = utcnow() + dt.timedelta(seconds=max(1.0, retry_after))
    conn.paused_until = until
    conn.last_error = N_("Evotor asked us to slow down. We will continue automatically after a pause.")
    conn.last_error_at = utcnow()
    db.session.commit()
    return until


def _record_failure(user_id: int, message: str) -> None:
    conn = _connection(user_id)
    conn.last_error = message
    conn.last_error_at = utcnow()
    db.session.commit()


def iter_refreshable_user_ids() -> Iterator[int]:
    """Users whose Evotor connection is connected (broken and unconnected ones are left alone)."""
    rows = db.session.execute(
        sa.select(EvotorConnection.user_id)
        .where(EvotorConnection.state == ConnectionState.CONNECTED)
        .order_by(EvotorConnection.user_id)
    ).scalars()
    yield from list(rows)


def refresh_all(user_ids: Iterable[int] | None = None) -> list[RefreshSummary]:
    """Refresh many users one after another; one user's failure is logged and never stops the others."""
    summaries = []
    for user_id in list(iter_refreshable_user_ids() if user_ids is None else user_ids):
        try:
            summaries.append(refresh_catalog(user_id))
        except Exception as exc:  # a bug or a database hiccup for one merchant must not stop the loop
            db.session.rollback()
            log.exception("catalog refresh crashed", extra={"user_id": user_id})
            summaries.append(RefreshSummary(user_id=user_id, status=FAILED, reason=f"{type(exc).__name__}: {exc}"))
    return summaries


class _Mirror:
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
        for part in _chunks(due, 100):
            updates = []
            for row in part:
                try:
                    image = next(iter(self.client.iter_product_images(store_id, row.evotor_id)), None)
                except EvotorNotFound:  # removed since the listing: the next refresh drops the row
                    continue
                updates.append(
                    {
                        "id": row.id,
                        "image_id": _str_or_none(image and image.get("id")),
                        "image_url": _clip(image.get("url"), 1024) if image else None,
                        "image_updated_at": (image.get("updated_at") or image.get("created_at")) if image else None,
                        "image_checked_for": row.evotor_updated_at or "",
                    }
                )
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


# ----------------------------------------------------------------------------------------- toggles


@dataclass
class GroupNode:
    """One group in a store's tree, with its own toggle, its effective state and product counts."""

    evotor_id: str
    name: str
    parent_id: str | None
    own_enabled: bool
    effective_enabled: bool = False
    is_modification_group: bool = False
    product_count: int = 0  # directly inside
    total_count: int = 0  # inside, including every subgroup
    children: list[GroupNode] = field(default_factory=list)


@dataclass(frozen=True)
class PublishableScope:
    """What the merchant allows to publish: enabled stores, and per store its effectively enabled groups.

    A product is publishable when its store is enabled and it sits at the store's top level
    (parent_id None) or in an enabled group: see :meth:`includes`.
    """

    store_ids: frozenset[str]
    group_ids: frozenset[str]
    groups_by_store: dict[str, frozenset[str]]

    def includes(self, store_id: str, parent_id: str | None) -> bool:
        if store_id not in self.store_ids:
            return False
        return parent_id is None or parent_id in self.groups_by_store.get(store_id, frozenset())


def get_store(user_id: int, store_id: str) -> CachedStore:
    """The user's cached store, or CatalogNotFound (also for another user's store)."""
    store = db.session.execute(
        sa.select(CachedStore).filter_by(user_id=user_id, evotor_id=store_id)
    ).scalar_one_or_none()
    if store is None:
        raise CatalogNotFound(store_id)
    return store


def store_versions(user_id: int, store_id: str) -> sa.Row | None:
    """The user's store as the products page's cache needs it (id, name, product_count, content_version,
    groups_version), in one narrow Core query; None if it is not theirs or not mirrored."""
    return db.session.execute(
        sa.select(
            CachedStore.id,
            CachedStore.name,
            CachedStore.product_count,
            CachedStore.content_version,
            CachedStore.groups_version,
        ).where(CachedStore.user_id == user_id, CachedStore.evotor_id == store_id)
    ).first()


def get_group(user_id: int, store_id: str, group_id: str) -> CachedGroup:
    group = db.session.execute(
        sa.select(CachedGroup).filter_by(user_id=user_id, store_evotor_id=store_id, evotor_id=group_id)
    ).scalar_one_or_none()
    if group is None:
        raise CatalogNotFound(group_id)
    return group


def _filters(user_id: int, entity_type: str) -> dict[str, bool]:
    rows = db.session.execute(
        sa.select(SyncFilter.entity_id, SyncFilter.enabled).filter_by(user_id=user_id, entity_type=entity_type)
    )
    return {r.entity_id: bool(r.enabled) for r in rows}


def _set_filter(user_id: int, entity_type: str, entity_id: str, parent: str | None, enabled: bool) -> None:
    row = db.session.execute(
        sa.select(SyncFilter).filter_by(user_id=user_id, entity_type=entity_type, entity_id=entity_id)
    ).scalar_one_or_none()
    if row is None:
        row = SyncFilter(user_id=user_id, entity_type=entity_type, entity_id=entity_id)
        db.session.add(row)
    row.parent_entity_id = parent
    row.enabled = enabled
    db.session.commit()


def store_enabled_map(user_id: int) -> dict[str, bool]:
    """Every cached store of the user -> enabled (no filter row: disabled)."""
    rows = _filters(user_id, "store")
    store_ids = db.session.scalars(sa.select(CachedStore.evotor_id).filter_by(user_id=user_id))
    return {sid: rows.get(sid, False) for sid in store_ids}


def set_store_enabled(user_id: int, store_id: str, enabled: bool) -> CachedStore:
    """Enable or disable publishing a store; CatalogNotFound unless it is the user's."""
    store = get_store(user_id, store_id)
    _set_filter(user_id, "store", store_id, None, enabled)
    log.info("store toggled", extra={"user_id": user_id, "store_id": store_id, "enabled": enabled})
    return store


def set_group_enabled(user_id: int, store_id: str, group_id: str, enabled: bool) -> CachedGroup:
    """Enable or disable a group (and so, effectively, everything under it); CatalogNotFound unless the user's."""
    group = get_group(user_id, store_id, group_id)
    _set_filter(user_id, "group", group_id, store_id, enabled)
    log.info(
        "group toggled", extra={"user_id": user_id, "store_id": store_id, "group_id": group_id, "enabled": enabled}
    )
    return group


def group_tree(user_id: int, store_id: str, store_is_enabled: bool | None = None) -> list[GroupNode]:
    """The store's groups as a tree (roots sorted by name), with toggles, effective states and counts."""
    if store_is_enabled is None:
        store_is_enabled = _filters(user_id, "store").get(store_id, False)
    own = _filters(user_id, "group")
    counts = dict(
        db.session.execute(
            sa.select(CachedProduct.parent_id, sa.func.count())
            .filter_by(user_id=user_id, store_evotor_id=store_id)
            .group_by(CachedProduct.parent_id)
        ).all()
    )
    nodes = {
        g.evotor_id: GroupNode(
            evotor_id=g.evotor_id,
            name=g.name,
            parent_id=g.parent_id,
            own_enabled=own.get(g.evotor_id, True),
            is_modification_group=bool(g.attributes),
            product_count=counts.get(g.evotor_id, 0),
        )
        for g in db.session.execute(
            sa.select(CachedGroup.evotor_id, CachedGroup.name, CachedGroup.parent_id, CachedGroup.attributes).filter_by(
                user_id=user_id, store_evotor_id=store_id
            )
        )
    }
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id else None
        if parent is None or _is_ancestor(nodes, node.evotor_id, parent.evotor_id):
            roots.append(node)  # a missing parent or a cycle in Evotor's data: show it at the top
        else:
            parent.children.append(node)

    def settle(node: GroupNode, parent_enabled: bool) -> int:
        node.effective_enabled = parent_enabled and node.own_enabled
        node.children.sort(key=lambda n: n.name.lower())
        node.total_count = node.product_count + sum(settle(c, node.effective_enabled) for c in node.children)
        return node.total_count

    roots.sort(key=lambda n: n.name.lower())
    for root in roots:
        settle(root, store_is_enabled)
    return roots


def _is_ancestor(nodes: dict[str, GroupNode], candidate: str, start: str) -> bool:
    """Whether ``candidate`` is found walking up from ``start`` (a cycle would put a group under itself)."""
    seen = set()
    current: str | None = start
    while current and current not in seen:
        if current == candidate:
            return True
        seen.add(current)
        node = nodes.get(current)
        current = node.parent_id if node else None
    return False


def walk(nodes: Iterable[GroupNode]) -> Iterator[GroupNode]:
    """Every node of a tree, parents before children."""
    for node in nodes:
        yield node
        yield from walk(node.children)


def effective_group_states(user_id: int, store_id: str) -> dict[str, bool]:
    """Group id -> effectively enabled, for one store."""
    return {n.evotor_id: n.effective_enabled for n in walk(group_tree(user_id, store_id))}


def publishable_scope(user_id: int) -> PublishableScope:
    """Enabled store ids and effectively enabled group ids (by store): what the sync engine may publish."""
    stores = frozenset(sid for sid, on in store_enabled_map(user_id).items() if on)
    by_store = {
        sid: frozenset(
            n.evotor_id for n in walk(group_tree(user_id, sid, store_is_enabled=True)) if n.effective_enabled
        )
        for sid in stores
    }
    return PublishableScope(
        store_ids=stores,
        group_ids=frozenset().union(*by_store.values()) if by_store else frozenset(),
        groups_by_store=by_store,
    )


# ----------------------------------------------------------------------------------------- reading


@dataclass
class StoreOverview:
    store: CachedStore
    enabled: bool
    product_count: int
    group_count: int


def store_overviews(user_id: int) -> list[StoreOverview]:
    """The user's stores with toggle state and counts (two grouped COUNT queries)."""
    enabled = _filters(user_id, "store")
    products = dict(
        db.session.execute(
            sa.select(CachedProduct.store_evotor_id, sa.func.count())
            .filter_by(user_id=user_id)
            .group_by(CachedProduct.store_evotor_id)
        ).all()
    )
    groups = dict(
        db.session.execute(
            sa.select(CachedGroup.store_evotor_id, sa.func.count())
            .filter_by(user_id=user_id)
            .group_by(CachedGroup.store_evotor_id)
        ).all()
    )
    stores = db.session.scalars(
        sa.select(CachedStore).filter_by(user_id=user_id).order_by(CachedStore.name, CachedStore.id)
    )
    return [
        StoreOverview(s, enabled.get(s.evotor_id, False), products.get(s.evotor_id, 0), groups.get(s.evotor_id, 0))
        for s in stores
    ]


# The columns the products page shows: half the bytes of a full row, and no ORM objects to build.
LISTED_COLUMNS = (
    CachedProduct.id,
    CachedProduct.evotor_id,
    CachedProduct.parent_id,
    CachedProduct.name,
    CachedProduct.code,
    CachedProduct.barcodes_text,
    CachedProduct.price,
    CachedProduct.quantity,
    CachedProduct.measure_name,
    CachedProduct.allow_to_sell,
    CachedProduct.image_url,
)


@dataclass
class ProductPage:
    items: list[sa.Row]  # LISTED_COLUMNS, read by attribute as on the model (p.name, p.price, ...)
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _starts_with(column: sa.ColumnElement, prefix: str) -> sa.ColumnElement:
    """``column`` starts with ``prefix``, in a form the dialect serves from the column's index.

    SQLite's LIKE is case-insensitive and so cannot use a plain index; a range on the binary order can.
    """
    if db.engine.dialect.name == "sqlite":
        return sa.and_(column >= prefix, column < prefix + "\U0010ffff")
    return column.like(f"{_like_escape(prefix)}%", escape="\\")


def _search_condition(query: str) -> sa.ColumnElement:
    """Digits: a code or a barcode starting with them (indexed), or a later barcode containing them.
    Anything else: a name containing it (a few case variants, as SQLite folds ASCII case only) or a code."""
    escaped = _like_escape(query)
    if query.isdigit():
        return sa.or_(
            _starts_with(CachedProduct.code, query),
            _starts_with(CachedProduct.barcodes_text, query),
            CachedProduct.barcodes_text.like(f"% {escaped}%", escape="\\"),
        )
    variants = dict.fromkeys([query, query.lower(), query.capitalize()])
    return sa.or_(
        *(CachedProduct.name.like(f"%{_like_escape(v)}%", escape="\\") for v in variants),
        _starts_with(CachedProduct.code, query),
    )


def product_page(
    user_id: int,
    store_id: str,
    *,
    group_id: str | None = None,
    query: str = "",
    page: int = 1,
    per_page: int = 50,
    store: CachedStore | None = None,
) -> ProductPage:
    """One page of a store's products, optionally inside a group (with its subgroups) and matching ``query``.

    ``store``: the store's row when the caller holds it already (its kept count is the unfiltered total).

    ``query``: see :func:`_search_condition` (MariaDB's utf8mb4_unicode_ci collation folds Cyrillic case
    by itself; on SQLite the query, its lower-case and capitalised forms are tried).
    """
    conditions = [CachedProduct.user_id == user_id, CachedProduct.store_evotor_id == store_id]
    if group_id:
        tree = group_tree(user_id, store_id)
        node = next((n for n in walk(tree) if n.evotor_id == group_id), None)
        if node is None:
            raise CatalogNotFound(group_id)
        conditions.append(CachedProduct.parent_id.in_([n.evotor_id for n in walk([node])]))
    query = (query or "").strip()[:100]
    if query:
        conditions.append(_search_condition(query))
    if group_id or query:
        total = db.session.scalar(sa.select(sa.func.count(CachedProduct.id)).where(*conditions)) or 0
    elif store is not None:  # the whole store: its kept count, not a COUNT over every product
        total = store.product_count
    else:
        total = db.session.scalar(sa.select(CachedStore.product_count).filter_by(user_id=user_id, evotor_id=store_id))
        total = total or 0
    page = max(1, min(page, max(1, -(-total // per_page))))
    if total == 0:
        return ProductPage(items=[], total=0, page=1, per_page=per_page)
    items = list(
        db.session.execute(
            sa.select(*LISTED_COLUMNS)
            .where(*conditions)
            .order_by(CachedProduct.name, CachedProduct.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return ProductPage(items=items, total=total, page=page, per_page=per_page)


def group_names(user_id: int, store_id: str, version: str | None = None) -> dict[str, str]:
    """{group id: name} of a store. With the store's ``groups_version`` the answer comes from this process's
    cache while the groups are unchanged (the products page asks on every view: 200 groups cost 3 ms)."""
    if version is None:
        return _read_group_names(user_id, store_id)
    return dict(_cached_group_names(user_id, store_id, version))


def bump_groups_version(user_id: int, store_id: str) -> None:
    """The store's groups changed (not committed): cached names of the old version are not used again."""
    db.session.execute(
        sa.update(CachedStore)
        .filter_by(user_id=user_id, evotor_id=store_id)
        .values(groups_version=uuid.uuid4().hex)
        .execution_options(synchronize_session=False)
    )


def bump_content_version(user_id: int, store_id: str | None = None) -> None:
    """The store's products or their VK state changed (not committed): pages cached under the old token are not
    served again (web/page_cache.py). ``store_id`` None: every store of the user.

    Core statements on products call this themselves; ORM changes to products and sync links renew it on flush
    (:func:`_renew_content_versions`), so code (and tests) that edit rows through the session need not.
    """
    db.session.execute(_new_content_version(user_id, store_id))


def _new_content_version(user_id: int, store_id: str | None) -> sa.Update:
    """UPDATE giving the user's store (every store of theirs when ``store_id`` is None) a new content token."""
    stores = CachedStore.__table__
    statement = stores.update().where(stores.c.user_id == user_id)
    if store_id is not None:
        statement = statement.where(stores.c.evotor_id == store_id)
    return statement.values(content_version=uuid.uuid4().hex)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _renew_content_versions(session: sa.orm.Session, _flush_context) -> None:
    """Products or sync links added, changed or deleted through the ORM: renew the content token of their stores
    (a link renews all the user's stores: the VK column shows once any link exists), in the same transaction."""
    stores: set[tuple[int, str | None]] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CachedProduct):
            stores.add((obj.user_id, obj.store_evotor_id))
        elif isinstance(obj, SyncLink):
            stores.add((obj.user_id, None))
    users_wide = {user_id for user_id, store_id in stores if store_id is None}
    connection = session.connection()
    for user_id, store_id in stores:
        if user_id is None or (store_id is not None and user_id in users_wide):
            continue
        connection.execute(_new_content_version(user_id, store_id))


def _read_group_names(user_id: int, store_id: str) -> dict[str, str]:
    return dict(
        db.session.execute(
            sa.select(CachedGroup.evotor_id, CachedGroup.name).filter_by(user_id=user_id, store_evotor_id=store_id)
        ).all()
    )


@functools.lru_cache(maxsize=256)
def _cached_group_names(user_id: int, store_id: str, version: str) -> tuple[tuple[str, str], ...]:
    return tuple(_read_group_names(user_id, store_id).items())


def last_refresh(user_id: int) -> dt.datetime | None:
    """When the user's catalog last refreshed completely (the connection's last_ok_at)."""
    return db.session.scalar(sa.select(EvotorConnection.last_ok_at).filter_by(user_id=user_id))
