"""The reads behind the Evotor catalog pages: store overviews, a page of products, search."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import CachedGroup, CachedProduct, CachedStore
from .scope import CatalogNotFound, filters_of, group_tree, walk


@dataclass
class StoreOverview:
    store: CachedStore
    enabled: bool
    product_count: int
    group_count: int


def store_overviews(user_id: int) -> list[StoreOverview]:
    """The user's stores with toggle state and counts (two grouped COUNT queries)."""
    enabled = filters_of(user_id, "store")
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
class EvotorProductPage:
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
) -> EvotorProductPage:
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
        return EvotorProductPage(items=[], total=0, page=1, per_page=per_page)
    items = list(
        db.session.execute(
            sa.select(*LISTED_COLUMNS)
            .where(*conditions)
            .order_by(CachedProduct.name, CachedProduct.id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    return EvotorProductPage(items=items, total=total, page=page, per_page=per_page)
