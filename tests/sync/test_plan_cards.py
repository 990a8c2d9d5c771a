"""The plan's VK cards (issue 22), table-driven on plain data: which attributes become options, what goes into
titles, which properties and variants are created, and when a card is grouped, extended, made anew or ungrouped."""

from __future__ import annotations

import pytest

from evosync.services.sync import mapping
from evosync.services.sync.plan import build_plan, card_shape
from evosync.services.sync.plan_model import Group, Link, PlanInput, Product, Scope, Settings, VkItem, VkProperty

S = "store-1"
SIZE = {"id": "size", "name": "Размер", "choices": [{"id": c.lower(), "name": c} for c in ("S", "M", "L")]}
COLOUR = {"id": "col", "name": "Цвет", "choices": [{"id": "r", "name": "красный"}, {"id": "b", "name": "синий"}]}
FABRIC = {"id": "fab", "name": "Ткань", "choices": [{"id": "cot", "name": "хлопок"}, {"id": "lin", "name": "лён"}]}
TSHIRT = Group(S, "T", "Футболка", parent_id=None, attributes=[SIZE, COLOUR])


def variant(pid: str, parent: str = "T", **choices) -> Product:
    return Product(
        store_id=S,
        id=pid,
        name=f"Футболка {pid}",
        price=990,
        quantity=3,
        parent_id=parent,
        attributes_choices=choices,
        article_number="",
        description="Хлопок 100%, машинная стирка.",
    )


def plan_for(products, groups=(TSHIRT,), links=(), vk_items=(), properties=(), variants_on=True):
    return build_plan(
        PlanInput(
            settings=Settings(),
            products=products,
            groups=groups,
            scope=Scope(stores=frozenset({S}), groups=frozenset((S, g.id) for g in groups)),
            links=links,
            vk_items=vk_items,
            vk_properties=properties,
            variants_on=variants_on,
        )
    )


FOUR = [
    variant("1", size="s", col="r"),
    variant("2", size="m", col="r"),
    variant("3", size="s", col="b"),
    variant("4", size="m", col="b"),
]


def _published(products, grouping=None, options=True):
    """Links and VK items as a previous run left them: every variant published as item 100+n, in ``grouping``."""
    shape = card_shape(TSHIRT, products)
    links, items = [], []
    for n, prod in enumerate(products):
        sku = mapping.sku_for(S, prod.id)
        fields = {"variant_ids": [list(p) for p in shape.options[prod.key]]} if options else {}
        links.append(Link(S, prod.id, sku, vk_item_id=100 + n, pushed=fields, status="published"))
        items.append(VkItem(100 + n, sku, title="x", grouping_id=grouping))
    return links, items


def test_two_varying_attributes_make_one_card_titled_after_the_model():
    """4 variants × (size, colour) -> 1 card with options Размер and Цвет; items named "Футболка"; both
    properties and their 4 values are created; one groupItems of all 4 (new) items."""
    plan = plan_for(FOUR)
    assert [(c.title, c.options, len(c.members)) for c in plan.cards] == [("Футболка", ("Размер", "Цвет"), 4)]
    assert {c.desired.title for c in plan.creates} == {"Футболка"}
    assert [c.title for c in plan.property_creates] == ["Размер", "Цвет"]
    assert sorted((v.property_title, v.title) for v in plan.variant_creates) == [
        ("Размер", "M"),
        ("Размер", "S"),
        ("Цвет", "красный"),
        ("Цвет", "синий"),
    ]
    assert len(plan.groupings) == 1 and plan.groupings[0].item_group_id is None
    assert plan.summary()["cards"] == 1 and plan.summary()["card_variants"] == 4


def test_the_two_attributes_that_vary_most_are_the_options_and_the_third_goes_into_the_title():
    """Size varies 3 ways, fabric 2, colour 1: the options are Размер and Ткань; colour (one value) is no choice
    and stays in the title."""
    group = Group(S, "T", "Футболка", attributes=[COLOUR, SIZE, FABRIC])
    products = [
        variant("1", size="s", col="r", fab="cot"),
        variant("2", size="m", col="r", fab="cot"),
        variant("3", size="l", col="r", fab="lin"),
    ]
    plan = plan_for(products, groups=(group,))
    assert plan.cards[0].options == ("Размер", "Ткань")
    assert {c.desired.title for c in plan.creates} == {"Футболка (красный)"}
    assert sorted(tuple(map(tuple, c.desired.fields["variant_ids"])) for c in plan.creates)[0] == (
        ("Размер", "L"),
        ("Ткань", "лён"),
    )


def test_equal_options_and_missing_values_stay_separate_items():
    """Two variants with the same options (VK: 1426) -> the second is its own item with its full name; a variant
    without a size is its own item too."""
    products = [*FOUR[:2], variant("5", size="s", col="r"), variant("6", col="b")]
    plan = plan_for(products)
    assert set(plan.cards[0].members) == {(S, "1"), (S, "2")}
    singles = {c.desired.key: c.desired for c in plan.creates if c.desired.card is None}
    assert set(singles) == {(S, "5"), (S, "6")} and "variant_ids" not in singles[(S, "5")].fields
    assert singles[(S, "5")].title == "Футболка 5 (S, красный)"


@pytest.mark.parametrize(
    ("case", "products", "expect"),
    [
        ("unchanged-card", FOUR, ("none",)),
        ("one-left-ungroups", FOUR[:1], ("ungroup",)),
    ],
)
def test_a_card_held_by_vk(case, products, expect):
    """A card VK holds that is exactly the members writes nothing; a group left with one variant is ungrouped."""
    links, items = _published(FOUR, grouping=77)
    if case == "one-left-ungroups":
        links, items = links[:1], items[:1]
        links = [Link(S, "1", links[0].sku, vk_item_id=100, pushed={}, status="published")]
    plan = plan_for(products, links=links, vk_items=items)
    if expect == ("none",):
        assert not plan.groupings and not plan.ungroupings
    else:
        assert [u.item_group_id for u in plan.ungroupings] == [77] and not plan.groupings


def test_a_new_variant_extends_the_card_and_a_second_card_is_merged():
    """A new variant: created, and the card extended (item_group_id given). Two cards for one group (a lost
    answer): both ungrouped, one grouped anew."""
    links, items = _published(FOUR[:3], grouping=77)
    plan = plan_for(FOUR, links=links, vk_items=items)
    assert len(plan.creates) == 1 and [g.item_group_id for g in plan.groupings] == [77] and not plan.ungroupings

    links, items = _published(FOUR, grouping=77)
    items = [*items[:2], *(VkItem(i.item_id, i.sku, title="x", grouping_id=78) for i in items[2:])]
    plan = plan_for(FOUR, links=links, vk_items=items)
    assert sorted(u.item_group_id for u in plan.ungroupings) == [77, 78]
    assert [g.item_group_id for g in plan.groupings] == [None]


def test_options_that_change_remake_the_card_and_deleted_members_do_not():
    """A renamed choice changes a grouped item's options: ungroup first, group again. A variant deleted in VK
    leaves the card by itself: the card is kept as it is (no ungroup) when 2 or more stay."""
    links, items = _published(FOUR, grouping=77)
    renamed = [variant("1", size="s", col="r"), *FOUR[1:]]
    group = Group(
        S, "T", "Футболка", attributes=[{**SIZE, "choices": [{"id": "s", "name": "XS"}, *SIZE["choices"][1:]]}, COLOUR]
    )
    plan = plan_for(renamed, groups=(group,), links=links, vk_items=items)
    assert [u.item_group_id for u in plan.ungroupings] == [77] and [g.item_group_id for g in plan.groupings] == [None]
    assert ("Размер", "XS") in [(v.property_title, v.title) for v in plan.variant_creates]

    plan = plan_for(FOUR[:3], links=links, vk_items=items)
    assert [r.vk_item_id for r in plan.removals] == [103]
    assert not plan.ungroupings and not plan.groupings


def test_known_properties_are_reused_and_nothing_is_planned_while_the_mode_is_off():
    """Properties VK has (by title) are not created again; with the mode off there are no cards at all."""
    known = [VkProperty(1, "Размер", {"S": 11, "M": 12}), VkProperty(2, "Цвет", {"красный": 21})]
    plan = plan_for(FOUR, properties=known)
    assert not plan.property_creates
    assert [(v.property_title, v.title) for v in plan.variant_creates] == [("Цвет", "синий")]
    assert plan.known_variants[("Размер", "S")] == 11

    plan = plan_for(FOUR, variants_on=False)
    assert not plan.cards and not plan.property_creates and not plan.groupings
    assert all("variant_ids" not in c.desired.fields for c in plan.creates)


def test_flat_products_named_base_and_flavour_make_a_card_only_when_asked():
    """«Лимонад (груша)» and «Лимонад (тархун)» in one group: with the setting on, one card «Лимонад» with the
    option «Вариант»; a lone «Сок (яблоко)» and names without parentheses stay items; off (default): no card."""
    drinks = Group(S, "D", "Напитки")
    products = [
        Product(S, "a", "Лимонад (груша)", 120, 5, parent_id="D"),
        Product(S, "b", "лимонад  (тархун)", 120, 5, parent_id="D"),
        Product(S, "c", "Сок (яблоко)", 90, 5, parent_id="D"),
        Product(S, "d", "Вода", 50, 5, parent_id="D"),
    ]
    on = build_plan(
        PlanInput(
            settings=Settings(group_by_name=True),
            products=products,
            groups=[drinks],
            scope=Scope(stores=frozenset({S}), groups=frozenset({(S, "D")})),
            variants_on=True,
        )
    )
    assert [(c.title, c.options, c.members) for c in on.cards] == [("Лимонад", ("Вариант",), ((S, "a"), (S, "b")))]
    titles = {c.desired.key[1]: c.desired.title for c in on.creates}
    assert titles["a"] == titles["b"] == "Лимонад" and titles["c"] == "Сок (яблоко)"
    assert {c.desired.album_key for c in on.creates} == {(S, "D")}, "the album stays the product's group"
    off = plan_for(products, groups=(drinks,))
    assert not off.cards
