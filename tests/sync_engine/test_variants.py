"""VK variants: each Evotor modification group is one VK card with a picker, kept right through every change.

Every test runs under each set of readings (tests/readings.py), and every check goes through
tests/sync_engine/expect.mismatches, which also checks the cards: one VK card per modification group holding
exactly its publishable variants, each with the right options, and no other card.
"""

from __future__ import annotations

from evosync.extensions import db
from evosync.models import CachedGroup, RunStatus, VkConnection
from evosync.services.sync.runner import preview, run_sync
from evosync.services.sync.variants_mode import variants_notice
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


def _shop(sandbox, extended: bool = True, n_products: int = 24):
    shop = open_shop(sandbox, n_products=n_products)
    sandbox.vk.set_extended_mode(shop.group_id, extended)
    return shop


def _tshirts(shop):
    """(the modification group, its variants in Evotor) — the demo catalog's T-shirt in sizes and colours."""
    store = shop.stores[0]
    group = next(g for g in shop.sandbox.evotor.groups(store) if g.get("attributes"))
    variants = [p for p in shop.sandbox.evotor.products(store) if p.get("parent_id") == group["id"]]
    return group, sorted(variants, key=lambda p: p["id"])


def _sync(shop):
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(shop.sandbox, shop.user_id, shop.group_id) == []
    return run


def _writes(sandbox, method: str) -> int:
    return sandbox.vk.stats["methods"].get(method, 0)


def _sells(variants):
    return [v for v in variants if v.get("allow_to_sell", True) and (v.get("quantity") or 0) > 0 and v["price"] > 0]


def test_first_publication_makes_one_card_with_two_options(fast_vk, sandbox):
    """The T-shirt's 8 variants (4 sizes × 2 colours) become 8 VK items grouped into ONE card whose picker has
    the options Размер and Цвет; properties and their variants are created once; a re-run writes nothing."""
    shop = _shop(sandbox)
    _group, variants = _tshirts(shop)
    shop.refresh()
    run = _sync(shop)
    cards = run.details["cards"]
    assert len(cards) == 1 and cards[0]["options"] == ["Размер", "Цвет"], cards
    assert cards[0]["variants"] == len([v for v in variants if v["price"] > 0])
    assert list(sandbox.vk.groupings(shop.group_id).values())[0] and len(sandbox.vk.groupings(shop.group_id)) == 1
    props = {p["title"]: sorted(v["title"] for v in p["variants"]) for p in sandbox.vk.properties(shop.group_id)}
    names = {c["id"]: (a["name"], c["name"]) for a in _group["attributes"] for c in a["choices"]}
    used = {names[cid] for v in variants if v["price"] > 0 for cid in v["attributes_choices"].values()}
    assert props == {name: sorted(value for n, value in used if n == name) for name in ("Размер", "Цвет")}
    assert _writes(sandbox, "market.groupItems") == 1 and _writes(sandbox, "market.ungroupItems") == 0
    assert sandbox.vk.max_items_per_sku(shop.group_id) == 1
    writes = sandbox.vk.stats["writes"]
    _sync(shop)
    assert sandbox.vk.stats["writes"] == writes, "an unchanged catalog writes nothing"
    assert "1425" not in sandbox.vk.stats["errors"] and "1426" not in sandbox.vk.stats["errors"]


def test_preview_says_how_many_variants_make_one_card(fast_vk, sandbox):
    """The dry run counts the card: "8 variants → 1 card with 2 options"."""
    shop = _shop(sandbox)
    run_sync(shop.user_id)  # the first read learns the mode
    plan = preview(shop.user_id).plan
    summary = plan.summary()
    assert summary["cards"] == 1 and summary["card_variants"] == len(plan.cards[0].members) >= 2


def test_each_change_touches_only_what_it_must(fast_vk, sandbox):
    """A variant added joins the card (one add, one grouping, nothing re-created); one sold out is hidden in its
    card (one edit); one removed leaves it (one delete, the card stays); the model renamed renames its items."""
    shop = _shop(sandbox)
    group, variants = _tshirts(shop)
    shop.refresh()
    _sync(shop)
    ev, token, store = sandbox.evotor, shop.evotor_token, shop.stores[0]
    ids_before = {i["sku"]: i["id"] for i in shop.vk_items()}

    # a new colour for size S: a new VK variant, one new item, into the same card
    size, colour = group["attributes"]
    colour["choices"].append({"id": "colour-green", "name": "Зелёный"})
    ev.update_group(token, store, group["id"], attributes=group["attributes"])
    ev.add_product(
        token,
        store,
        f"{group['name']} S, зелёный",
        price=990.0,
        quantity=3,
        parent_id=group["id"],
        attributes_choices={size["id"]: size["choices"][0]["id"], colour["id"]: "colour-green"},
    )
    shop.refresh()
    adds = _writes(sandbox, "market.add")
    run = _sync(shop)
    assert _writes(sandbox, "market.add") == adds + 1 and run.created_count == 1
    assert {i["sku"]: i["id"] for i in shop.vk_items() if i["sku"] in ids_before} == ids_before, "none re-created"
    assert run.details["cards_ungrouped"] == 0 and run.details["cards_grouped"] == 1

    # one variant sold out: one edit, it stays in its card (shown as unavailable in the picker)
    sold = _sells(variants)[0]
    ev.update_product(token, store, sold["id"], quantity=0)
    shop.refresh()
    run = _sync(shop)
    assert run.updated_count == 1 and run.details["cards_grouped"] == 0 and run.details["cards_ungrouped"] == 0

    # one variant removed in Evotor: deleted in VK, the card keeps the others without being made anew
    gone = _sells(variants)[1]
    ev.remove_product(token, store, gone["id"])
    shop.refresh()
    run = _sync(shop)
    assert run.removed_count == 1 and run.details["cards_ungrouped"] == 0

    # the model renamed: each item's title follows; the card stays as it is
    ev.update_group(token, store, group["id"], name="Футболка из хлопка")
    shop.refresh()
    run = _sync(shop)
    assert run.updated_count >= 2 and run.details["cards_ungrouped"] == 0
    assert all(i["title"].startswith("Футболка из хлопка") for i in shop.vk_items() if i["grouping_id"])


def test_a_choice_renamed_gets_a_new_variant_and_the_card_is_made_anew(fast_vk, sandbox):
    """A size renamed in Evotor (to "XXL") is a new VK variant; the items carrying it change options, so the
    card is ungrouped first and grouped again (VK would refuse the edit inside the card: 1412/1413)."""
    shop = _shop(sandbox)
    group, variants = _tshirts(shop)
    shop.refresh()
    _sync(shop)
    size = group["attributes"][0]
    used = variants[0]["attributes_choices"][size["id"]]
    next(c for c in size["choices"] if c["id"] == used)["name"] = "XXL"
    sandbox.evotor.update_group(shop.evotor_token, shop.stores[0], group["id"], attributes=group["attributes"])
    shop.refresh()
    run = _sync(shop)
    assert run.details["cards_ungrouped"] == 1 and run.details["cards_grouped"] == 1
    assert "XXL" in {v["title"] for p in sandbox.vk.properties(shop.group_id) for v in p["variants"]}
    assert not {"1412", "1413", "1425", "1426"} & set(sandbox.vk.stats["errors"])


def test_a_card_left_with_one_variant_is_ungrouped_before_anything_else(fast_vk, sandbox):
    """Variants removed until one is left: the card is ungrouped first (VK's 1425 is never provoked) and the
    last variant is an item of its own, named with all its values again."""
    shop = _shop(sandbox)
    _group, variants = _tshirts(shop)
    shop.refresh()
    _sync(shop)
    keep = _sells(variants)[0]
    for variant in variants:
        if variant["id"] != keep["id"]:
            sandbox.evotor.remove_product(shop.evotor_token, shop.stores[0], variant["id"])
    shop.refresh()
    run = _sync(shop)
    assert run.details["cards_ungrouped"] == 1
    assert sandbox.vk.groupings(shop.group_id) == {}
    assert "1425" not in sandbox.vk.stats["errors"]


def test_extended_mode_off_falls_back_and_the_switch_groups_the_same_items(fast_vk, sandbox):
    """Extended mode off: today's separate items, and the dashboard's notice. The merchant switches it on: the
    next run groups the SAME items (edited, never created again) into one card, and the notice goes."""
    shop = _shop(sandbox, extended=False)
    shop.refresh()
    _sync(shop)
    assert sandbox.vk.groupings(shop.group_id) == {}
    assert variants_notice(shop.user_id)
    conn = VkConnection.query.filter_by(user_id=shop.user_id).one()
    assert conn.variants_mode in ("off", "off-write")
    ids_before = sorted(i["id"] for i in shop.vk_items())

    sandbox.vk.set_extended_mode(shop.group_id, True)
    adds = _writes(sandbox, "market.add")
    run = _sync(shop)
    assert _writes(sandbox, "market.add") == adds and run.created_count == 0, "grouped, not re-created"
    assert sorted(i["id"] for i in shop.vk_items()) == ids_before
    assert len(sandbox.vk.groupings(shop.group_id)) == 1
    db.session.refresh(conn)
    assert conn.variants_mode == "on" and not variants_notice(shop.user_id)


def test_switched_off_after_grouping_keeps_publishing(fast_vk, sandbox):
    """The mode switched off after the cards were made: the run still succeeds and the items get their full
    titles back (VK keeps or drops the cards as it likes; we cannot touch them then)."""
    shop = _shop(sandbox)
    shop.refresh()
    _sync(shop)
    sandbox.vk.set_extended_mode(shop.group_id, False)
    for grouping in list(sandbox.vk.groupings(shop.group_id)):  # what VK would show: no cards without the mode
        with sandbox.vk.lock:
            for item in sandbox.vk._members(shop.group_id, grouping):
                item.grouping_id, item.is_main_variant = None, False
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert CachedGroup.query.filter(CachedGroup.user_id == shop.user_id).count()


def test_flat_products_named_base_and_flavour_are_one_card_when_the_merchant_asks(fast_vk, sandbox):
    """«Лимонад (груша)», «Лимонад (тархун)», «Лимонад (дюшес)» kept as separate Evotor products: off by default
    they stay 3 items; with the setting on, the preview shows the card it would make and the run makes it from the
    same items (nothing created again)."""
    from evosync.models import SyncConfig

    shop = _shop(sandbox)
    store = shop.stores[0]
    for flavour in ("груша", "тархун", "дюшес"):
        sandbox.evotor.add_product(shop.evotor_token, store, f"Лимонад ({flavour})", price=120.0, quantity=5)
    shop.refresh()
    _sync(shop)
    lemonades = [i for i in shop.vk_items() if i["title"].startswith("Лимонад")]
    assert len(lemonades) == 3 and not any(i["grouping_id"] for i in lemonades)

    db.session.add(SyncConfig(user_id=shop.user_id, group_by_name=True))
    db.session.commit()
    cards = {c.title: c for c in preview(shop.user_id).plan.cards}
    assert cards["Лимонад"].options == ("Вариант",) and len(cards["Лимонад"].members) == 3
    run = _sync(shop)
    assert run.created_count == 0
    after = [i for i in shop.vk_items() if i["id"] in {x["id"] for x in lemonades}]
    assert {i["title"] for i in after} == {"Лимонад"} and len({i["grouping_id"] for i in after}) == 1
