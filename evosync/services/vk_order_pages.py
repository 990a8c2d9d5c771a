"""What the orders pages read: one merchant's orders, filtered and searched, with their lines mapped to Evotor."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..extensions import db
from ..models import CachedProduct, VkOrder, VkOrderItem
from .sync import holds as rule
from .sync.order_holds import open_statuses

PER_PAGE = 50
FILTERS = ("all", "open", "closed")


@dataclass
class Line:
    title: str
    quantity: int
    price_kopecks: int | None
    evotor_name: str | None  # the Evotor product it maps back to, through our sync links; None: not ours
    held: int  # units it holds now


@dataclass
class OrderView:
    order: VkOrder
    is_open: bool
    lines: list[Line] = field(default_factory=list)


@dataclass
class OrdersPage:
    orders: list[OrderView]
    total: int
    page: int
    pages: int


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search_condition(user_id: int, q: str):
    """Case-insensitive on MariaDB (its collation) and, for the usual spellings, on SQLite (whose LIKE folds ASCII
    only): the query as typed, in lower case and capitalised, as the catalog search does."""
    variants = [_like(v) for v in dict.fromkeys([q, q.lower(), q.capitalize()])]
    in_lines = sa.select(VkOrderItem.order_id).where(
        VkOrderItem.user_id == user_id, sa.or_(*(VkOrderItem.title.like(v, escape="\\") for v in variants))
    )
    return sa.or_(
        *(VkOrder.display_id.like(v, escape="\\") for v in variants),
        *(VkOrder.comment.like(v, escape="\\") for v in variants),
        VkOrder.id.in_(in_lines),
    )


def list_orders(user_id: int, show: str = "all", status: int | None = None, q: str = "", page: int = 1) -> OrdersPage:
    """The merchant's orders, newest first; ``show`` all/open/closed, or one ``status``; ``q`` searches the number,
    the customer's comment and the item titles."""
    statuses = open_statuses(user_id)
    query = sa.select(VkOrder).where(VkOrder.user_id == user_id)
    if status is not None:
        query = query.where(VkOrder.status == status)
    elif show in ("open", "closed"):
        opened = [s for s in range(0, 100) if rule.is_open(s, statuses)]  # unknown numbers count as open
        condition = sa.or_(VkOrder.status.in_(opened), VkOrder.status >= 100)
        query = query.where(condition if show == "open" else sa.not_(condition))
    q = (q or "").strip()[:100]
    if q:
        query = query.where(_search_condition(user_id, q))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    pages = max(1, -(-total // PER_PAGE))
    page = min(max(1, page), pages)
    rows = db.session.scalars(
        query.order_by(VkOrder.ordered_at.desc(), VkOrder.id.desc()).offset((page - 1) * PER_PAGE).limit(PER_PAGE)
    ).all()
    return OrdersPage([_view(r, statuses, names) for r, names in _with_names(user_id, rows)], total, page, pages)


def get_order(user_id: int, order_id: int) -> OrderView | None:
    """One order of this merchant (None for anybody else's: the caller answers 404)."""
    row = db.session.scalar(sa.select(VkOrder).where(VkOrder.id == order_id, VkOrder.user_id == user_id))
    if row is None:
        return None
    [(row, names)] = _with_names(user_id, [row])
    return _view(row, open_statuses(user_id), names)


def _with_names(user_id: int, rows: list[VkOrder]):
    keys = {(i.store_evotor_id, i.evotor_product_id) for r in rows for i in r.items if i.evotor_product_id}
    names: dict[tuple[str, str], str] = {}
    if keys:
        result = db.session.execute(
            sa.select(CachedProduct.store_evotor_id, CachedProduct.evotor_id, CachedProduct.name).where(
                CachedProduct.user_id == user_id, CachedProduct.evotor_id.in_(sorted({k[1] for k in keys}))
            )
        )
        names = {(s, p): n for s, p, n in result if (s, p) in keys}
    return [(r, names) for r in rows]


def _view(row: VkOrder, statuses: frozenset[int], names: dict) -> OrderView:
    is_open = rule.is_open(row.status, statuses)
    view = OrderView(row, is_open)
    for item in row.items:
        key = (item.store_evotor_id, item.evotor_product_id)
        mapped = item.evotor_product_id is not None
        view.lines.append(
            Line(
                title=item.title,
                quantity=item.quantity,
                price_kopecks=item.price_kopecks,
                evotor_name=names.get(key, "") if mapped else None,
                held=max(0, item.quantity - item.till_settled) if (is_open and mapped) else 0,
            )
        )
    return view


def counts(user_id: int) -> dict[str, int]:
    statuses = open_statuses(user_id)
    rows = db.session.execute(
        sa.select(VkOrder.status, sa.func.count()).where(VkOrder.user_id == user_id).group_by(VkOrder.status)
    )
    out = {"all": 0, "open": 0, "closed": 0}
    for status, n in rows:
        out["all"] += n
        out["open" if rule.is_open(status, statuses) else "closed"] += n
    return out
