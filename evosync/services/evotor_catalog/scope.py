"""The merchant's publish toggles over the mirror, and the scope the sync publishes.

Toggles (``sync_filters``): a store without a row is disabled; a group without a row is enabled; a group is
effectively enabled only when its store and every group above it are enabled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from ...extensions import db
from ...models import CachedGroup, CachedProduct, CachedStore, SyncFilter

log = logging.getLogger(__name__)


class CatalogNotFound(LookupError):
    """The store or group does not exist in this user's mirror (or belongs to someone else)."""


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


def filters_of(user_id: int, entity_type: str) -> dict[str, bool]:
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
    rows = filters_of(user_id, "store")
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
        store_is_enabled = filters_of(user_id, "store").get(store_id, False)
    own = filters_of(user_id, "group")
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
