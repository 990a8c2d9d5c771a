"""The publish toggles as services: defaults, persistence, the cascade through the tree, publishable_scope."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import SyncFilter
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.evotor_catalog.scope import (
    CatalogNotFound,
    effective_group_states,
    group_tree,
    publishable_scope,
    set_group_enabled,
    set_store_enabled,
    store_enabled_map,
    walk,
)
from tests.catalog.conftest import connect_merchant, seed_small_catalog


def test_new_stores_start_disabled_and_nothing_is_publishable(refreshed):
    """No sync_filters row: every store is off, so the scope is empty."""
    m = refreshed
    assert store_enabled_map(m.user.id) == {m.stores["a"]: False, m.stores["b"]: False}
    scope = publishable_scope(m.user.id)
    assert scope.store_ids == frozenset() and scope.group_ids == frozenset()
    assert not scope.includes(m.stores["a"], None)


def test_groups_of_an_enabled_store_start_enabled(refreshed):
    """Enabling a store makes all its groups effective and top-level products publishable; the row records it."""
    m = refreshed
    set_store_enabled(m.user.id, m.stores["a"], True)
    scope = publishable_scope(m.user.id)
    a_groups = {g for k, g in m.groups.items() if k != "b_misc"}
    assert scope.store_ids == {m.stores["a"]}
    assert scope.groups_by_store[m.stores["a"]] == a_groups and scope.group_ids == a_groups
    assert scope.includes(m.stores["a"], None) and scope.includes(m.stores["a"], m.groups["cheese"])
    assert not scope.includes(m.stores["b"], m.groups["b_misc"])
    row = db.session.scalar(sa.select(SyncFilter))
    assert (row.entity_type, row.entity_id, row.parent_entity_id, row.enabled) == ("store", m.stores["a"], None, True)


def test_disabling_a_parent_group_disables_everything_under_it(refreshed):
    """Food off: dairy and cheese are effectively off though their own switches stay on; on again restores them."""
    m = refreshed
    set_store_enabled(m.user.id, m.stores["a"], True)
    set_group_enabled(m.user.id, m.stores["a"], m.groups["food"], False)
    states = effective_group_states(m.user.id, m.stores["a"])
    assert not states[m.groups["food"]] and not states[m.groups["dairy"]] and not states[m.groups["cheese"]]
    assert states[m.groups["drinks"]] and states[m.groups["shirts"]]
    nodes = {n.evotor_id: n for n in walk(group_tree(m.user.id, m.stores["a"]))}
    assert nodes[m.groups["cheese"]].own_enabled and not nodes[m.groups["cheese"]].effective_enabled
    scope = publishable_scope(m.user.id)
    assert not scope.includes(m.stores["a"], m.groups["cheese"])
    assert scope.includes(m.stores["a"], m.groups["drinks"])
    row = db.session.scalar(sa.select(SyncFilter).filter_by(entity_type="group"))
    assert (row.entity_id, row.parent_entity_id, row.enabled) == (m.groups["food"], m.stores["a"], False)

    set_group_enabled(m.user.id, m.stores["a"], m.groups["dairy"], False)  # own switch off under an off parent
    set_group_enabled(m.user.id, m.stores["a"], m.groups["food"], True)
    states = effective_group_states(m.user.id, m.stores["a"])
    assert states[m.groups["food"]] and not states[m.groups["dairy"]] and not states[m.groups["cheese"]]


def test_tree_is_nested_with_counts(refreshed):
    """The tree nests food > dairy > cheese; counts are direct and including subgroups."""
    m = refreshed
    roots = group_tree(m.user.id, m.stores["a"])
    assert [r.name for r in roots] == ["Напитки", "Продукты", "Футболка"]
    food = roots[1]
    assert [c.name for c in food.children] == ["Молочное"]
    dairy = food.children[0]
    assert [c.name for c in dairy.children] == ["Сыры"]
    assert (dairy.product_count, dairy.total_count, food.total_count) == (1, 2, 2)
    assert roots[0].total_count == 13 and roots[2].is_modification_group


def test_toggles_are_isolated_per_user(sandbox, refreshed):
    """User B can toggle neither A's store nor A's group: both are not found for B."""
    b = connect_merchant(sandbox, "token-b", "b@example.com")
    with pytest.raises(CatalogNotFound):
        set_store_enabled(b.user.id, refreshed.stores["a"], True)
    with pytest.raises(CatalogNotFound):
        set_group_enabled(b.user.id, refreshed.stores["a"], refreshed.groups["food"], False)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0


def test_toggles_survive_a_refresh(sandbox, refreshed):
    """Toggles persist across a refresh that changes the catalog."""
    m = refreshed
    set_store_enabled(m.user.id, m.stores["a"], True)
    set_group_enabled(m.user.id, m.stores["a"], m.groups["drinks"], False)
    sandbox.evotor.update_group(m.token, m.stores["a"], m.groups["drinks"], name="Вода и напитки")
    assert refresh_catalog(m.user.id).ok
    scope = publishable_scope(m.user.id)
    assert scope.store_ids == {m.stores["a"]} and m.groups["drinks"] not in scope.group_ids


def test_two_merchants_catalogs_do_not_mix(sandbox, refreshed):
    """B's refresh of a similar catalog leaves A's rows and scope alone."""
    b = seed_small_catalog(sandbox, connect_merchant(sandbox, "token-b", "b@example.com"))
    assert refresh_catalog(b.user.id).ok
    set_store_enabled(b.user.id, b.stores["a"], True)
    assert publishable_scope(refreshed.user.id).store_ids == frozenset()
    assert publishable_scope(b.user.id).store_ids == {b.stores["a"]}
