"""The VK emulator's product variants: properties, property variants, grouping and its errors, the mode switch."""

from __future__ import annotations

import dataclasses

import pytest

from tests.sandbox.test_vk_emulator import ADMIN, GID, OWNER, add_item, err, new_photo, ok


@pytest.fixture
def sb(sandbox):
    """A community with market (extended mode off, as VK's default), administered by ADMIN; limit off."""
    sandbox.vk.add_community(GID, "Магазин одежды", admin_tokens=(ADMIN,))
    sandbox.vk.rate_limit_enabled = False
    return sandbox


def _sizes(sb, *titles):
    prop = ok(sb, "market.addProperty", group_id=GID, title="Размер")["property_id"]
    return prop, [
        ok(sb, "market.addPropertyVariant", group_id=GID, property_id=prop, title=t)["variant_id"] for t in titles
    ]


def test_extended_mode_off_refuses_every_variant_method(sb):
    """With the community's extended mode off, properties, grouping and variant_ids answer 1409; the read too
    (reading properties_when_off=error) or an empty list (=empty)."""
    assert err(sb, "market.addProperty", group_id=GID, title="Размер")["error_code"] == 1409
    assert err(sb, "market.getProperties", group_id=GID)["error_code"] == 1409
    a, b = add_item(sb, name="Футболка M"), add_item(sb, name="Футболка L")
    assert err(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b}")["error_code"] == 1409
    assert err(sb, "market.edit", owner_id=OWNER, item_id=a, variant_ids="101")["error_code"] == 1409
    sb.vk.readings = dataclasses.replace(sb.vk.readings, properties_when_off="empty")
    assert ok(sb, "market.getProperties", group_id=GID) == {"count": 0, "items": []}


def test_properties_variants_and_a_card(sb):
    """Properties and their variants get ids; two items with distinct variants become one card that market.get
    shows with variants_grouping_id; fewer than two items, missing or equal variants are refused."""
    sb.vk.set_extended_mode(GID, True)
    prop, (s, m, xl) = _sizes(sb, "S", "M", "L")
    listed = ok(sb, "market.getProperties", group_id=GID)
    assert listed["items"][0]["id"] == prop and [v["title"] for v in listed["items"][0]["variants"]] == ["S", "M", "L"]
    a = add_item(sb, name="Футболка", variant_ids=s)
    b = add_item(sb, name="Футболка", variant_ids=m)
    c = add_item(sb, name="Футболка", variant_ids=m)
    bare = add_item(sb, name="Футболка без размера")
    assert err(sb, "market.groupItems", group_id=GID, item_ids=f"{a}")["error_code"] == 1425
    assert err(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{bare}")["error_code"] == 1415
    assert err(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b},{c}")["error_code"] == 1426
    card = ok(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b}")["item_group_id"]
    items = {i["id"]: i for i in ok(sb, "market.get", owner_id=OWNER, count=200)["items"]}
    assert items[a]["variants_grouping_id"] == card == items[b]["variants_grouping_id"]
    assert "variants_grouping_id" not in items[c]
    assert err(sb, "market.edit", owner_id=OWNER, item_id=b, variant_ids=s)["error_code"] == 1413
    ok(sb, "market.edit", owner_id=OWNER, item_id=c, variant_ids=xl)
    ok(sb, "market.groupItems", group_id=GID, item_ids=f"{c}", item_group_id=card)  # adds (default reading)
    assert sb.vk.groupings(GID) == {card: [a, b, c]}
    ok(sb, "market.ungroupItems", group_id=GID, item_group_id=card)
    assert sb.vk.groupings(GID) == {}


def test_group_items_with_id_replaces_under_that_reading(sb):
    """Reading group_items_with_id=replaces: the card is made of exactly the items sent."""
    sb.vk.set_extended_mode(GID, True)
    sb.vk.readings = dataclasses.replace(sb.vk.readings, group_items_with_id="replaces")
    _prop, (s, m, xl) = _sizes(sb, "S", "M", "L")
    a, b, c = (add_item(sb, name="Футболка", variant_ids=v) for v in (s, m, xl))
    card = ok(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b},{c}")["item_group_id"]
    ok(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{c}", item_group_id=card)
    assert sb.vk.groupings(GID) == {card: [a, c]}


def test_deleting_a_member_leaves_the_card_and_need_variants_reading(sb):
    """A deleted item leaves its card (one left: no card). Under grouped_need_variants market.get shows only the
    main variant unless need_variants=1."""
    sb.vk.set_extended_mode(GID, True)
    _prop, (s, m, xl) = _sizes(sb, "S", "M", "L")
    a, b, c = (add_item(sb, name="Футболка", variant_ids=v) for v in (s, m, xl))
    card = ok(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b},{c}")["item_group_id"]
    sb.vk.readings = dataclasses.replace(sb.vk.readings, grouped_need_variants=True)
    assert ok(sb, "market.get", owner_id=OWNER)["count"] == 1
    assert ok(sb, "market.get", owner_id=OWNER, need_variants=1)["count"] == 3
    ok(sb, "market.delete", owner_id=OWNER, item_id=c)
    assert sb.vk.groupings(GID) == {card: [a, b]}
    ok(sb, "market.delete", owner_id=OWNER, item_id=b)
    assert sb.vk.groupings(GID) == {}


def test_a_card_is_found_in_its_own_community_only(sb):
    """An item_group_id that is unknown, or another community's card, answers 1411 to groupItems and ungroupItems,
    and leaves that card as it was."""
    sb.vk.set_extended_mode(GID, True)
    sb.vk.add_community(202, "Другой магазин", admin_tokens=(ADMIN,))
    sb.vk.set_extended_mode(202, True)
    _prop, (s, m) = _sizes(sb, "S", "M")
    a, b = (add_item(sb, name="Футболка", variant_ids=v) for v in (s, m))
    card = ok(sb, "market.groupItems", group_id=GID, item_ids=f"{a},{b}")["item_group_id"]
    theirs = ok(sb, "market.addProperty", group_id=202, title="Цвет")["property_id"]
    red, blue = (
        ok(sb, "market.addPropertyVariant", group_id=202, property_id=theirs, title=t)["variant_id"]
        for t in ("Красный", "Синий")
    )
    photo = new_photo(sb, "x", group_id=202)
    c = add_item(sb, owner_id=-202, name="Кепка", variant_ids=red, main_photo_id=photo)
    d = add_item(sb, owner_id=-202, name="Кепка", variant_ids=blue, main_photo_id=new_photo(sb, "y", group_id=202))
    for unknown in (card, card + 1000):
        assert (
            err(sb, "market.groupItems", group_id=202, item_ids=f"{c},{d}", item_group_id=unknown)["error_code"] == 1411
        )
        assert err(sb, "market.ungroupItems", group_id=202, item_group_id=unknown)["error_code"] == 1411
    assert sb.vk.groupings(GID) == {card: [a, b]} and sb.vk.groupings(202) == {}
