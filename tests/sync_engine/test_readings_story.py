"""A merchant's whole story, under every reading of VK's and Evotor's open behaviours (tests/readings.py).

First sync; three rounds of changes at the cash register (price, stock to 0 and back, rename, delete, a new
product, a group off and on, the store off with the removal confirmed and on again, removed items expiring);
then the 20 % fault soak. After every sync VK holds exactly the expected state, an unchanged re-sync writes
nothing, and at no point did VK hold two items for one product (the emulator's peak count per sku).
"""

from __future__ import annotations

import time

import pytest

from evosync.extensions import db
from evosync.models import CachedGroup, CachedProduct, RunStatus, SyncRun, VkConnection
from evosync.services.connections import vk_client_for
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.evotor_catalog.scope import set_group_enabled, set_store_enabled
from evosync.services.sync import plan as p
from evosync.services.sync.apply import Applier
from evosync.services.sync.apply_photos import PhotoSource
from evosync.services.sync.loader import load_plan_input
from evosync.services.sync.runner import _image_downloader, run_sync
from evosync.services.vk_catalog.refresh import refresh_vk_catalog
from tests.hardening.test_faults import soak
from tests.readings import STORY_READINGS, report
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

STORY_SYNCS = 8  # _synced calls in the story, each followed by an unchanged re-sync


def _synced(shop, confirm: bool = False) -> None:
    """Refresh the Evotor mirror, sync, and check VK: the exact expected state, and a re-sync writes nothing."""
    assert refresh_catalog(shop.user_id).status == "ok"
    run = run_sync(shop.user_id, confirm_removals=confirm)
    assert run.status == RunStatus.SUCCEEDED, (run.status, run.error, (run.details or {}).get("failures"))
    assert mismatches(shop.sandbox, shop.user_id, shop.group_id) == []
    writes = shop.sandbox.vk.stats["writes"]
    again = run_sync(shop.user_id)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert shop.sandbox.vk.stats["writes"] == writes, "an unchanged re-sync writes nothing"
    assert shop.sandbox.vk.max_items_per_sku(shop.group_id) == 1, "never two items for one product"


def _sellable(shop) -> list[CachedProduct]:
    db.session.rollback()
    rows = CachedProduct.query.filter_by(user_id=shop.user_id).order_by(CachedProduct.evotor_id)
    return [r for r in rows if r.allow_to_sell and r.price and r.type != "SERVICE"]


def _a_group_with_products(shop) -> CachedGroup:
    parents = {r.parent_id for r in _sellable(shop) if r.parent_id}
    groups = CachedGroup.query.filter_by(user_id=shop.user_id).order_by(CachedGroup.evotor_id)
    return next(g for g in groups if g.evotor_id in parents and not g.attributes)


@pytest.mark.parametrize("readings", STORY_READINGS, indirect=True)
def test_one_item_per_product_through_a_merchants_story(fast_vk, sandbox, readings):
    shop = open_shop(sandbox, n_products=16, seed=11)
    ev, token, store = sandbox.evotor, shop.evotor_token, shop.stores[0]
    _synced(shop)

    # Round 1: a new price, two sold out, a rename, a deletion, a new product.
    rows = _sellable(shop)
    ev.update_product(token, store, rows[0].evotor_id, price=float(rows[0].price) + 10)
    sold_out = [rows[1].evotor_id, rows[2].evotor_id]
    for pid in sold_out:
        ev.update_product(token, store, pid, quantity=0)
    ev.update_product(token, store, rows[3].evotor_id, name="Переименованный товар")
    ev.remove_product(token, store, rows[4].evotor_id)
    ev.add_product(token, store, "Новинка сезона", price=149, quantity=3)
    _synced(shop)

    # Round 2: back in stock; one group switched off.
    for pid in sold_out:
        ev.update_product(token, store, pid, quantity=7)
    group = _a_group_with_products(shop)
    set_group_enabled(shop.user_id, store, group.evotor_id, False)
    _synced(shop, confirm=True)

    # Round 3: the group on again; the store off (removal confirmed), then on again.
    set_group_enabled(shop.user_id, store, group.evotor_id, True)
    _synced(shop)
    set_store_enabled(shop.user_id, store, False)
    _synced(shop, confirm=True)
    set_store_enabled(shop.user_id, store, True)
    _synced(shop)
    restores = sandbox.vk.stats["methods"].get("market.restore", 0)
    if readings.deleted_returned:  # VK still listed the removed items: restored, not created again
        assert restores >= len(_sellable(shop)) - 1
    else:
        assert restores == 0

    # Removed items that can no longer be restored: the products come back as new items, once.
    set_group_enabled(shop.user_id, store, group.evotor_id, False)
    _synced(shop, confirm=True)
    sandbox.vk.expire_removed(shop.group_id)
    set_group_enabled(shop.user_id, store, group.evotor_id, True)
    _synced(shop)

    # The 20 % fault soak (tests/hardening/test_faults.py) on a second shop: first publication and changes.
    figures = soak(fast_vk, sandbox, n_products=80, changes=8, seed=41)
    peak = sandbox.vk.max_items_per_sku()
    report(readings, story_syncs=STORY_SYNCS, most_items_per_product=peak, soak=figures)
    assert peak == 1


@pytest.mark.parametrize("readings", [r for r in STORY_READINGS if r.values[0].deleted_returned][:1], indirect=True)
def test_too_late_to_restore_is_created_again_once(fast_vk, sandbox, readings):
    """VK listed an item we removed, but answers 1400 "too late" to market.restore: created anew, once."""
    shop = open_shop(sandbox, n_products=10, seed=5)
    store = shop.stores[0]
    _synced(shop)
    set_store_enabled(shop.user_id, store, False)
    _synced(shop, confirm=True)
    assert refresh_vk_catalog(shop.user_id).status == "ok"  # the mirror lists them as removed (restorable)
    set_store_enabled(shop.user_id, store, True)
    conn = VkConnection.query.filter_by(user_id=shop.user_id).one()
    data, _urls = load_plan_input(shop.user_id, shop.group_id)
    plan = p.build_plan(data)
    assert plan.updates and all(u.restore for u in plan.updates) and not plan.creates
    sandbox.vk.expire_removed(shop.group_id)  # between our read and our restore, VK's window closed
    applier = Applier(
        user_id=shop.user_id,
        group_id=shop.group_id,
        client=vk_client_for(conn),
        photos=PhotoSource(fast_vk.config["VK_DEFAULT_PHOTO_PATH"], None, {}),
    )
    result = applier.apply(plan)
    assert result.uncertain and result.restored == 0
    assert sandbox.vk.stats["errors"].get("1400") == len(plan.updates)
    _synced(shop)


@pytest.mark.parametrize(
    "readings",
    [r for r in STORY_READINGS if r.id in ("hidden-as-2", "hidden-as-1-deleted-returned", "no-sku-in-answers")],
    indirect=True,
)
def test_a_restarted_sandbox_with_the_same_database_converges(fast_vk, sandbox, readings):
    """`make run` stopped and started again: the database keeps its links, the sandbox starts empty and hands
    out the same item and album ids again, and this time some products are not for sale. Links that point at
    another product's item never claim it: the first sync settles everything and the next writes nothing."""
    shop = open_shop(sandbox, n_products=20, seed=3)
    _synced(shop)

    sandbox.reset()
    sandbox.set_readings(readings)
    sandbox.evotor.add_account(shop.evotor_token)
    sandbox.evotor.seed_catalog(shop.evotor_token, 20, n_stores=1, seed=3, with_images_ratio=0.3)
    sandbox.vk.add_user(shop.vk_token)
    sandbox.vk.add_community(shop.group_id, "Магазин", admin_tokens=(shop.vk_token,))
    for row in _sellable(shop)[:6]:
        sandbox.evotor.update_product(shop.evotor_token, shop.stores[0], row.evotor_id, allow_to_sell=False)
    _synced(shop)
    run = SyncRun.query.filter_by(user_id=shop.user_id).order_by(SyncRun.id.desc()).first()
    assert run.created_count == 0 and run.updated_count == 0 and run.albums_changed == 0


@pytest.mark.parametrize(
    "readings",
    [r for r in STORY_READINGS if r.id in ("hidden-as-2", "photo-saves-refused-in-execute", "no-sku-in-answers")],
    indirect=True,
)
def test_an_add_vk_finishes_after_our_read_is_adopted_not_doubled(fast_vk, sandbox, readings):
    """A worker's market.add times out, and VK carries it out only after the next pass has read the market (as
    when a worker is killed mid-request): the next pass's add with the same saved photo is refused ("photo
    already assigned"), and the pass after adopts the item holding that photo. Never two items per product,
    also when VK leaves the sku out of its answers."""
    fast_vk.config.update(VK_TIMEOUT=1.0)
    shop = open_shop(sandbox, n_products=6, seed=7)
    conn = VkConnection.query.filter_by(user_id=shop.user_id).one()

    def read_and_plan() -> tuple[p.Plan, dict]:
        assert refresh_vk_catalog(shop.user_id).status == "ok"
        data, image_urls = load_plan_input(shop.user_id, shop.group_id)
        return p.build_plan(data), image_urls

    def apply(planned: tuple[p.Plan, dict]):
        plan, image_urls = planned
        photos = PhotoSource(fast_vk.config["VK_DEFAULT_PHOTO_PATH"], _image_downloader(shop.user_id), image_urls)
        applier = Applier(user_id=shop.user_id, group_id=shop.group_id, client=vk_client_for(conn), photos=photos)
        return applier.apply(plan)

    # The first pass: photos saved (and recorded), the adds' answer lost; VK sits on them for 4 s.
    sandbox.vk.faults.timeout_seconds = 4.0
    sandbox.vk.faults.push("timeout", "market.add")
    first = read_and_plan()
    wanted = len(first[0].creates)
    result = apply(first)
    assert wanted >= 4 and result.uncertain and result.created == 0

    # The next pass reads the market before VK has carried the adds out, so it plans them again...
    stale = read_and_plan()
    assert len(stale[0].creates) == wanted and not stale[0].adoptions
    deadline = time.monotonic() + 10
    while len(shop.vk_items(live_only=False)) < wanted and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(shop.vk_items(live_only=False)) == wanted, "VK carried out the lost adds"
    # ... and sends them after VK has: the saved photos serve an item already.
    result = apply(stale)
    assert result.created == 0 and len(result.failures) == wanted

    # The next passes adopt the items holding our photos: the full sync ends with one item per product.
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, (run.error, (run.details or {}).get("failures"))
    assert run.created_count == 0
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert sandbox.vk.max_items_per_sku(shop.group_id) == 1
    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes, "an unchanged re-sync writes nothing"
