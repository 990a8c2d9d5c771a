"""Faults on both APIs at once: a catalog that keeps changing still converges to the exact desired VK state.

Each round is what the scheduler does for a merchant: refresh the Evotor mirror, then sync to VK — both while
the sandbox fails 20 % of requests (VK: error 6/9/10, 5xx, timeouts, answers dropped after the write;
Evotor: 5xx and 429). Between rounds the merchant's flood-control pause is cleared (time passing). After at
most 3 rounds, with faults off, the mirror is re-read (the truth) and VK must match it exactly:
tests/sync_engine/expect.mismatches reports duplicates, missing, extra items, wrong prices, titles, albums.
"""

from __future__ import annotations

import random
import time

import pytest

from evosync.extensions import db
from evosync.models import CachedProduct, EvotorConnection, RunStatus, VkConnection
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.sync.runner import run_sync
from tests.readings import parametrize_with_profiles
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


def pytest_generate_tests(metafunc):
    """Every test here that talks to the sandbox runs under each set of readings (tests/readings.py)."""
    parametrize_with_profiles(metafunc)


VK_KINDS = ("6", "9", "10", "5xx", "timeout", "drop_after_write")
EVOTOR_KINDS = ("5xx", "429")
MAX_ROUNDS = 3  # after the catalog changes
# Error 9 is retried after a pause within a run (VK_FLOOD_RETRIES), so the first publication converges
# within 3 rounds too; a flood that persists still stops and pauses the merchant.
FIRST_PUBLICATION_MAX_ROUNDS = 3


def _time_passes(user_id: int) -> None:
    """Flood control pauses the merchant for 30 minutes and Evotor's 429 for a while: let that time pass."""
    db.session.rollback()
    vk = VkConnection.query.filter_by(user_id=user_id).one()
    vk.paused_until = None
    vk.state = "connected"
    evotor = EvotorConnection.query.filter_by(user_id=user_id).one()
    for name in ("paused_until", "retry_after"):
        if hasattr(evotor, name):
            setattr(evotor, name, None)
    evotor.state = "connected"
    db.session.commit()


def _change_catalog(shop, rnd: random.Random, n: int) -> dict[str, int]:
    """Reprice, rename, sell out, delete and add products at the cash register (straight into the emulator)."""
    ev, token = shop.sandbox.evotor, shop.evotor_token
    rows = [r for r in CachedProduct.query.filter_by(user_id=shop.user_id) if r.allow_to_sell and r.price]
    picked = rnd.sample(rows, min(len(rows), n * 4))
    counts = {"repriced": 0, "renamed": 0, "sold_out": 0, "deleted": 0, "added": 0}
    for i, row in enumerate(picked):
        kind = i % 4
        if kind == 0:
            ev.update_product(token, row.store_evotor_id, row.evotor_id, price=float(row.price) + 11.5)
            counts["repriced"] += 1
        elif kind == 1:
            ev.update_product(token, row.store_evotor_id, row.evotor_id, name=f"{row.name[:60]} — новинка {i}")
            counts["renamed"] += 1
        elif kind == 2:
            ev.update_product(token, row.store_evotor_id, row.evotor_id, quantity=0)
            counts["sold_out"] += 1
        else:
            ev.remove_product(token, row.store_evotor_id, row.evotor_id)
            counts["deleted"] += 1
    store = shop.stores[0]
    for i in range(n):
        ev.add_product(token, store, f"Новый товар {rnd.randrange(10**6)} #{i}", price=99 + i, quantity=5)
        counts["added"] += 1
    return counts


def _change_variants(shop, rnd: random.Random) -> dict[str, int]:
    """In each modification group: a variant added (a new colour for one size), one removed, one sold out."""
    ev, token, store = shop.sandbox.evotor, shop.evotor_token, shop.stores[0]
    counts = {"variants_added": 0, "variants_removed": 0, "variants_sold_out": 0}
    for group in [g for g in ev.groups(store) if g.get("attributes")]:
        variants = [p for p in ev.products(store) if p.get("parent_id") == group["id"]]
        if len(variants) < 3:
            continue
        size, colour = group["attributes"][:2]
        new_colour = {"id": f"colour-{rnd.randrange(10**6)}", "name": f"Цвет {rnd.randrange(100)}"}
        colour["choices"].append(new_colour)
        ev.update_group(token, store, group["id"], attributes=group["attributes"])
        ev.add_product(
            token,
            store,
            f"{group['name']} новая",
            price=777.0,
            quantity=2,
            parent_id=group["id"],
            attributes_choices={size["id"]: size["choices"][0]["id"], colour["id"]: new_colour["id"]},
        )
        picked = rnd.sample(variants, 2)
        ev.remove_product(token, store, picked[0]["id"])
        ev.update_product(token, store, picked[1]["id"], quantity=0)
        counts["variants_added"] += 1
        counts["variants_removed"] += 1
        counts["variants_sold_out"] += 1
    return counts


def _faults_on(sandbox, seed: int) -> None:
    sandbox.vk.faults.timeout_seconds = 1.3
    sandbox.vk.faults.configure(rate=0.2, kinds=VK_KINDS, seed=seed)
    sandbox.evotor.faults.configure(rate=0.2, kinds=EVOTOR_KINDS, seed=seed + 1)


def _faults_off(sandbox) -> None:
    sandbox.vk.faults.clear()
    sandbox.evotor.faults.clear()
    # A write whose answer timed out lands when the emulator's held-back request ends (up to timeout_seconds
    # after the client gave up): what is checked next must see VK settled, and no late write in its counts.
    assert sandbox.vk.settle(), "a faulted VK request never finished"


def converge(shop, seed: int, max_rounds: int) -> list[str]:
    """Up to ``max_rounds`` rounds of refresh + sync under faults; returns what each round ended as."""
    sandbox = shop.sandbox
    rounds = []
    for n in range(max_rounds):
        _faults_on(sandbox, seed + 10 * n)
        refreshed = refresh_catalog(shop.user_id)
        run = run_sync(shop.user_id)
        _faults_off(sandbox)
        failed = len((run.details or {}).get("failures", []))
        rounds.append(f"refresh {refreshed.status}, sync {run.status} ({failed} failed) {run.error or ''}".strip())
        _time_passes(shop.user_id)
        shop.refresh()  # the truth, read without faults (what VK must show in the end)
        if run.status == RunStatus.SUCCEEDED and not mismatches(sandbox, shop.user_id, shop.group_id):
            break
    return rounds


def soak(sync_app, sandbox, n_products: int, changes: int, seed: int, extended: bool = False) -> dict:
    """First publication and then a changed catalog, each converging within MAX_ROUNDS rounds under faults.

    ``extended``: the community's extended products mode is on, so the modification groups are VK cards (with
    mismatches checking each is exactly one card); the changes then also add and remove variants."""
    sync_app.config.update(VK_TIMEOUT=1.0, EVOTOR_TIMEOUT=2.0)
    sandbox.evotor.page_size = 100
    shop = open_shop(sandbox, n_products=n_products, seed=seed)
    sandbox.vk.set_extended_mode(shop.group_id, extended)
    started = time.monotonic()
    first = converge(shop, seed, FIRST_PUBLICATION_MAX_ROUNDS)
    assert mismatches(sandbox, shop.user_id, shop.group_id) == [], first
    live = len(shop.vk_items())
    changed = _change_catalog(shop, random.Random(seed), changes)
    if extended:
        changed.update(_change_variants(shop, random.Random(seed)))
    second = converge(shop, seed + 100, MAX_ROUNDS)
    problems = mismatches(sandbox, shop.user_id, shop.group_id)
    assert problems == [], (second, problems[:20])
    faults = sandbox.vk.stats["faults"]
    assert sum(faults.values()) >= 3, "the VK faults really happened"  # bulk photos: fewer requests to hit
    assert sandbox.evotor.stats.get("faults") or sandbox.evotor.stats["errors"], "the Evotor faults happened"
    skus = [i["sku"] for i in sandbox.vk.items(shop.group_id) if not i["deleted"]]
    assert len(skus) == len(set(skus)), "no duplicate items"
    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes, "converged: a clean re-run writes nothing"
    return {
        "products": n_products,
        "live_items_after_first": live,
        "live_items_after_changes": len(skus),
        "changes": changed,
        "first_publication_rounds": first,
        "after_changes_rounds": second,
        "vk_faults": dict(faults),
        "vk_requests": sandbox.vk.stats["requests"],
        "evotor_errors": sandbox.evotor.stats["errors"],
        "seconds": round(time.monotonic() - started, 1),
    }


def test_200_products_with_changes_converge_under_faults_on_both_apis(fast_vk, sandbox):
    """200 products, then 40 changes (repriced, renamed, sold out, deleted) and 10 new products: each
    state is reached (the changes within 3 rounds) by rounds of refresh + sync while both APIs fail 20 % of
    requests — 0 duplicates, 0 missing, 0 wrong prices, titles or albums — and a clean re-run writes nothing."""
    figures = soak(fast_vk, sandbox, n_products=200, changes=10, seed=21)
    print("fault soak", figures)


def test_vk_cards_converge_under_faults_with_no_duplicate_card(fast_vk, sandbox):
    """The same soak with the community's extended mode on: the T-shirt's variants are one VK card, and stay
    exactly one card (no second card, no member outside, no stranger inside, right options) through the
    first publication and variants added, removed and sold out, all under faults on both APIs."""
    figures = soak(fast_vk, sandbox, n_products=200, changes=10, seed=23, extended=True)
    assert sandbox.vk.stats["methods"].get("market.groupItems"), "the card really was made"
    print("fault soak (cards)", figures)


def test_vk_cards_fallback_and_switch_on_converge_under_faults(fast_vk, sandbox):
    """The community's extended mode off: the T-shirt's variants are published as separate items (the fallback);
    the merchant switches the mode on: the next runs group those same items into one card, none created again,
    all under faults on both APIs; no duplicate item, and a clean re-run writes nothing."""
    fast_vk.config.update(VK_TIMEOUT=1.0, EVOTOR_TIMEOUT=2.0)
    sandbox.evotor.page_size = 100
    shop = open_shop(sandbox, n_products=200, seed=29)
    sandbox.vk.set_extended_mode(shop.group_id, False)
    first = converge(shop, 29, FIRST_PUBLICATION_MAX_ROUNDS)
    assert mismatches(sandbox, shop.user_id, shop.group_id) == [], first
    live = {i["sku"]: i["id"] for i in sandbox.vk.items(shop.group_id) if not i["deleted"]}
    assert not any(i["grouping_id"] for i in sandbox.vk.items(shop.group_id)), "the fallback: separate items"

    sandbox.vk.set_extended_mode(shop.group_id, True)
    faults_before = sum(sandbox.vk.stats["faults"].values())
    # Besides the 20 % random faults: the first grouping's answer is lost while VK carries it out (the case that
    # could make a second card), and the first property VK is asked to make fails.
    sandbox.vk.faults.push("timeout", "market.groupItems")
    sandbox.vk.faults.push("10", "market.addProperty")
    second: list[str] = []
    for n in range(MAX_ROUNDS):  # EvoSync learns of the switch from a write VK takes again (faults may hit it)
        second += converge(shop, 129 + 7 * n, 1)
        mode = VkConnection.query.filter_by(user_id=shop.user_id).one().variants_mode
        if mode == "on" and not mismatches(sandbox, shop.user_id, shop.group_id):
            break
    assert mode == "on", second
    assert mismatches(sandbox, shop.user_id, shop.group_id) == [], second  # the cards exactly, as expected
    items = [i for i in sandbox.vk.items(shop.group_id) if not i["deleted"]]
    assert {i["sku"]: i["id"] for i in items} == live, "the same items, grouped: none created again"
    assert len({i["grouping_id"] for i in items if i["grouping_id"]}) >= 1, "a card was made"
    faults = sum(sandbox.vk.stats["faults"].values())
    assert faults >= faults_before + 2, "the VK faults really happened after the switch"
    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes, "converged: a clean re-run writes nothing"


@pytest.mark.slow
def test_2000_products_with_changes_converge_under_faults_on_both_apis(fast_vk, sandbox):
    """The same with 2,000 products and 400 changes plus 100 new products (make soak)."""
    figures = soak(fast_vk, sandbox, n_products=2000, changes=100, seed=5)
    print("fault soak", figures)
