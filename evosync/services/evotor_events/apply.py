"""One Evotor catalog event applied to its merchants' mirror: a product, group, image or store changed.

Out-of-order deliveries: an update older than the mirror's ``updated_at`` is ignored. Nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ...extensions import db
from ...models import CachedGroup, CachedProduct, CachedStore, SyncFilter, utcnow
from ..evotor_catalog.mirror import add_to_product_count, product_row
from ..evotor_catalog.versions import bump_groups_version
from .form import (
    APPLIED,
    GROUP,
    IGNORED,
    PRODUCT,
    REMOVED,
    STORE,
    UNKNOWN_USER,
    product_id_of_image,
    read_event,
    store_id_of,
    text_of,
)
from .signature import Merchant, merchants_for

log = logging.getLogger(__name__)

# Product mirror columns and the payload key each comes from (a partial payload updates only what it has).
_PRODUCT_SOURCE = {
    "parent_id": "parent_id",
    "name": "name",
    "code": "code",
    "article_number": "article_number",
    "barcodes": "barcodes",
    "barcodes_text": "barcodes",
    "price": "price",
    "cost_price": "cost_price",
    "quantity": "quantity",
    "measure_name": "measure_name",
    "tax": "tax",
    "allow_to_sell": "allow_to_sell",
    "description": "description",
    "type": "type",
    "attributes_choices": "attributes_choices",
    "evotor_updated_at": "updated_at",
}


@dataclass
class Applied:
    """One queued event applied: its row status, the merchants it belonged to and whether their mirror changed."""

    status: str
    user_ids: list[int] = field(default_factory=list)
    changed: bool = False
    stores: set[tuple[int, str]] = field(default_factory=set)  # (user, store) whose products changed


def apply_queued(raw: str | None, merchants: dict[tuple[str, str, str], list[Merchant]]) -> Applied:
    """Apply one queued event to the mirror of the merchant(s) it belongs to (not committed)."""
    body = json.loads(raw or "null")
    _event_id, event_type, action, payload = read_event(body)  # checked at intake; raises only if tampered with
    store_id = store_id_of(payload, event_type)
    key = (event_type, text_of(payload.get("user_id")) or text_of(payload.get("userId")), store_id)
    if key not in merchants:
        merchants[key] = merchants_for(payload, event_type)
    user_ids = [m.user_id for m in merchants[key]]
    if not user_ids:
        return Applied(UNKNOWN_USER)
    applied = Applied(IGNORED, user_ids)
    for user_id in user_ids:
        if _apply(user_id, event_type, action, payload):
            applied.changed = True
            if event_type == PRODUCT:
                applied.stores.add((user_id, store_id[:64]))
    if applied.changed:
        applied.status = APPLIED
    return applied


def _apply(user_id: int, event_type: str, action: str, payload: dict) -> bool:
    """Change the user's mirror (not committed); True when something changed."""
    if event_type == STORE:
        return _apply_store(user_id, action, payload)
    store_id = store_id_of(payload, event_type)[:64]
    if event_type == PRODUCT:
        return _apply_product(user_id, store_id, action, payload)
    if event_type == GROUP:
        return _apply_group(user_id, store_id, action, payload)
    return _apply_image(user_id, store_id, action, payload)


def _store_mirrored(user_id: int, store_id: str) -> bool:
    """Whether the store is in the user's mirror: only then may an event add rows to it (an update or removal
    finds its row, or nothing, by the store id anyway)."""
    if db.session.scalar(sa.select(CachedStore.id).filter_by(user_id=user_id, evotor_id=store_id)) is None:
        log.info("catalog event for a store not mirrored yet: the next refresh brings it", extra={"user_id": user_id})
        return False
    return True


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _is_stale(incoming: Any, stored: str | None) -> bool:
    """The event's resource is older than what the mirror holds (an out-of-order delivery)."""
    new, old = _parse_time(incoming), _parse_time(stored)
    return bool(new and old and new < old)


_PRODUCTS = CachedProduct.__table__  # the table itself: the ORM's statement path costs ~0.3 ms per statement
_PRODUCT_COLUMNS = [_PRODUCTS.c[column] for column in _PRODUCT_SOURCE]


def _apply_product(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    """In Core statements: the busiest event (a price or stock change) reads one narrow row and writes the
    columns that changed, without building ORM objects. The caller renews the store's content_version."""
    product_id = text_of(payload.get("id"))[:64]
    key = {"user_id": user_id, "store_evotor_id": store_id, "evotor_id": product_id}
    row = db.session.execute(
        sa.select(_PRODUCTS.c.id, *_PRODUCT_COLUMNS).where(*(_PRODUCTS.c[name] == value for name, value in key.items()))
    ).first()
    if action == REMOVED:
        if row is None:
            return False
        db.session.execute(sa.delete(CachedProduct).where(CachedProduct.id == row.id))
        add_to_product_count(user_id, store_id, -1)
        return True
    if row is not None and _is_stale(payload.get("updated_at"), row.evotor_updated_at):
        return False
    values = product_row(payload)
    if row is None:
        if not _store_mirrored(user_id, store_id):
            return False
        db.session.execute(sa.insert(CachedProduct).values(**key, refreshed_at=utcnow(), **values))
        add_to_product_count(user_id, store_id, 1)
        return True
    if "name" not in payload:  # a partial payload: only the fields it carries
        values = {column: values[column] for column, source in _PRODUCT_SOURCE.items() if source in payload}
    changes = {column: value for column, value in values.items() if getattr(row, column) != value}
    if not changes:
        return False
    db.session.execute(_PRODUCTS.update().where(_PRODUCTS.c.id == row.id).values(**changes, refreshed_at=utcnow()))
    return True


def _apply_group(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    changed = _change_group(user_id, store_id, action, payload)
    if changed:
        bump_groups_version(user_id, store_id)
    return changed


def _change_group(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    group_id = text_of(payload.get("id"))[:64]
    key = {"user_id": user_id, "store_evotor_id": store_id, "evotor_id": group_id}
    row = db.session.scalar(sa.select(CachedGroup).filter_by(**key))
    if action == REMOVED:
        if row is None:
            return False
        db.session.delete(row)
        db.session.execute(sa.delete(SyncFilter).filter_by(user_id=user_id, entity_type="group", entity_id=group_id))
        return True
    if row is not None and _is_stale(payload.get("updated_at"), row.evotor_updated_at):
        return False
    values = {
        "parent_id": text_of(payload.get("parent_id"))[:64] or None,
        "name": text_of(payload.get("name"))[:255],
        "attributes": payload.get("attributes") or None,
        "evotor_updated_at": payload.get("updated_at"),
    }
    if row is None:
        if not _store_mirrored(user_id, store_id):
            return False
        db.session.add(CachedGroup(**key, refreshed_at=utcnow(), **values))
        return True
    changed = False
    for column, value in values.items():
        if getattr(row, column) != value:
            setattr(row, column, value)
            changed = True
    if changed:
        row.refreshed_at = utcnow()
    return changed


def _apply_image(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    product = db.session.scalar(
        sa.select(CachedProduct).filter_by(
            user_id=user_id, store_evotor_id=store_id, evotor_id=product_id_of_image(payload)[:64]
        )
    )
    if product is None:
        return False
    image_id = text_of(payload.get("id"))[:64]
    if action == REMOVED:
        if product.image_id != image_id:
            return False
        product.image_id = product.image_url = product.image_updated_at = None
        product.image_checked_for = None  # the next refresh looks for another image of the product
        return True
    url = text_of(payload.get("url"))[:1024] or None
    updated = (
        payload.get("updated_at") or payload.get("updatedAt") or payload.get("created_at") or payload.get("createdAt")
    )
    if (product.image_id, product.image_url, product.image_updated_at) == (image_id, url, updated):
        return False
    product.image_id, product.image_url, product.image_updated_at = image_id, url, updated
    product.image_checked_for = product.evotor_updated_at or ""  # looked up, as far as the refresh is concerned
    return True


def _apply_store(user_id: int, action: str, payload: dict) -> bool:
    store_id = store_id_of(payload, STORE)[:64]
    store = db.session.scalar(sa.select(CachedStore).filter_by(user_id=user_id, evotor_id=store_id))
    if action == REMOVED:
        if store is None:
            return False
        for model in (CachedProduct, CachedGroup):
            db.session.execute(sa.delete(model).filter_by(user_id=user_id, store_evotor_id=store_id))
        db.session.execute(
            sa.delete(SyncFilter).where(
                SyncFilter.user_id == user_id,
                sa.or_(
                    sa.and_(SyncFilter.entity_type == "store", SyncFilter.entity_id == store_id),
                    sa.and_(SyncFilter.entity_type == "group", SyncFilter.parent_entity_id == store_id),
                ),
            )
        )
        db.session.delete(store)
        return True
    if store is not None and _is_stale(payload.get("updated_at"), store.evotor_updated_at):
        return False
    values = {
        "name": text_of(payload.get("name"))[:255],
        "address": text_of(payload.get("address"))[:512],
        "evotor_updated_at": payload.get("updated_at"),
    }
    if store is None:
        db.session.add(CachedStore(user_id=user_id, evotor_id=store_id, refreshed_at=utcnow(), **values))
        return True
    changed = False
    for column, value in values.items():
        if getattr(store, column) != value:
            setattr(store, column, value)
            changed = True
    return changed
