"""Changes at the cash register propagate to VK as edits; deletions and filter changes remove."""

from evosync.extensions import db
from evosync.models import CachedProduct, RunStatus, SyncConfig
from evosync.services.evotor_catalog.scope import set_store_enabled
from evosync.services.sync.runner import run_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


def _sellable(shop, n):
    rows = [
        r
        for r in CachedProduct.query.filter_by(user_id=shop.user_id).order_by(CachedProduct.id)
        if r.allow_to_sell and r.price and r.price > 0 and r.quantity and r.quantity > 0
    ]
    return rows[:n]


def test_price_name_stock_group_and_image_changes_propagate_as_edits(fast_vk, sandbox):
    """Repricing, renaming, stock going to zero, moving group and a new image each become an edit, no new item."""
    shop = open_shop(sandbox, n_products=30)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    items_before = len(shop.vk_items())
    a, b, c, d, e = _sellable(shop, 5)
    store = a.store_evotor_id
    ev, t = sandbox.evotor, shop.evotor_token
    other_group = next(
        r.parent_id
        for r in CachedProduct.query.filter_by(user_id=shop.user_id)
        if r.parent_id and r.parent_id != d.parent_id and r.attributes_choices is None
    )
    ev.update_product(t, store, a.evotor_id, price=float(a.price) + 100)
    ev.update_product(t, store, b.evotor_id, name="Совершенно новое имя товара")
    ev.update_product(t, store, c.evotor_id, quantity=0)
    ev.update_product(t, store, d.evotor_id, parent_id=other_group)
    ev.add_image(t, store, e.evotor_id)
    ev.update_product(t, store, e.evotor_id, code="E-1")  # images are re-read when the product changes
    shop.refresh()
    from evosync.services.sync.mapping import sku_for

    e_sku = sku_for(store, e.evotor_id)
    photo_before = next(i["main_photo_id"] for i in shop.vk_items() if i["sku"] == e_sku)
    writes_before = sandbox.vk.stats["methods"].get("market.add", 0)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert sandbox.vk.stats["methods"].get("market.add", 0) == writes_before, "an edit must not create an item"
    assert len(shop.vk_items()) == items_before
    assert run.updated_count >= 4  # price, name, stock, photo; the group move is an album move
    photo_after = next(i["main_photo_id"] for i in shop.vk_items() if i["sku"] == e_sku)
    assert photo_after != photo_before, "a new Evotor image is uploaded as a new photo"


def test_deleted_unsellable_and_filtered_products_are_removed(fast_vk, sandbox):
    """A product deleted in Evotor, made unsellable, or whose store is switched off leaves VK."""
    shop = open_shop(sandbox, n_products=12)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    a, b = _sellable(shop, 2)
    sandbox.evotor.remove_product(shop.evotor_token, a.store_evotor_id, a.evotor_id)
    sandbox.evotor.update_product(shop.evotor_token, b.store_evotor_id, b.evotor_id, allow_to_sell=False)
    shop.refresh()
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.removed_count == 2
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    # switching the store off removes everything: more than 10 and 30 % -> the guard asks first
    set_store_enabled(shop.user_id, shop.stores[0], False)
    run = run_sync(shop.user_id)
    live = len(shop.vk_items())
    if live > 10:
        assert run.status == RunStatus.WAITING_CONFIRMATION
        assert run.details["pending_removals_total"] == live
        run = run_sync(shop.user_id, confirm_removals=True)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert shop.vk_items() == []
    assert sandbox.vk.albums(shop.group_id) == [], "emptied albums EvoSync created are removed"


def test_mass_removal_guard_holds_when_evotor_returns_an_empty_catalog(fast_vk, sandbox):
    """Evotor suddenly listing no products (a classic way to wipe a shop) removes nothing without confirmation."""
    shop = open_shop(sandbox, n_products=30)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    live = len(shop.vk_items())
    for row in CachedProduct.query.filter_by(user_id=shop.user_id):
        sandbox.evotor.remove_product(shop.evotor_token, row.store_evotor_id, row.evotor_id)
    shop.refresh()
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.WAITING_CONFIRMATION
    assert len(shop.vk_items()) == live
    assert run.removed_count == 0
    assert "confirm" in run.error


def test_removal_setting_unavailable_hides_instead_of_deleting(fast_vk, sandbox):
    """With removal = unavailable, a deleted product's item stays in VK, marked unavailable."""
    shop = open_shop(sandbox, n_products=8)
    db.session.add(SyncConfig(user_id=shop.user_id, removal="unavailable"))
    db.session.commit()
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    (a,) = _sellable(shop, 1)
    sandbox.evotor.remove_product(shop.evotor_token, a.store_evotor_id, a.evotor_id)
    shop.refresh()
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    hidden = [i for i in shop.vk_items() if i["unavailable"]]
    assert len(hidden) >= 1
    assert not any(i["deleted"] for i in sandbox.vk.items(shop.group_id))


def test_items_evosync_did_not_create_are_never_touched(fast_vk, sandbox):
    """A merchant's own VK item (no EvoSync sku) survives every sync untouched."""
    shop = open_shop(sandbox, n_products=5)
    from tests.vk_catalog.conftest import Market

    market = Market(sandbox, shop.vk_token, shop.group_id)
    (own_id,) = market.add_items(1, prefix="Собственный товар")
    before = next(i for i in sandbox.vk.items(shop.group_id) if i["id"] == own_id)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    set_store_enabled(shop.user_id, shop.stores[0], False)
    run_sync(shop.user_id, confirm_removals=True)
    after = next(i for i in sandbox.vk.items(shop.group_id) if i["id"] == own_id)
    assert after == before


def test_item_deleted_by_hand_in_vk_is_recreated(fast_vk, sandbox):
    """An item removed in VK's own interface comes back on the next sync, once."""
    shop = open_shop(sandbox, n_products=6)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    victim = shop.vk_items()[0]
    sandbox.vk.remove_item_by_hand(shop.group_id, victim["id"])
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []


def test_a_copy_made_in_vk_is_removed_by_the_next_run_which_says_so(fast_vk, sandbox):
    """A duplicate that appears for any reason (here the merchant copies one of our items in VK, sku and all) is
    gone after the next run, and the run reports it. When VK answers without skus the copy cannot be told from the
    merchant's own item, and is left alone (docs/VK_READINGS.md)."""
    shop = open_shop(sandbox, n_products=6)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    from tests.vk_catalog.conftest import Market

    original = shop.vk_items()[0]
    (copy_id,) = Market(sandbox, shop.vk_token, shop.group_id).add_items(
        1, prefix=original["title"][:80], sku=original["sku"]
    )
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED
    copy = next(i for i in sandbox.vk.items(shop.group_id) if i["id"] == copy_id)
    if sandbox.vk.readings.get_returns_sku:
        assert copy["deleted"] and run.details["duplicates_removed"] == 1 and run.removed_count == 0
        assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    else:
        assert not copy["deleted"] and not run.details["duplicates_removed"]
    page = logged_in_client(fast_vk, shop.user).get(f"/sync/runs/{run.id}")
    assert page.status_code == 200
    assert ("duplicates_removed" in page.text) == bool(run.details["duplicates_removed"])
