"""A first sync publishes exactly the selected products, with albums and photos; a re-sync writes nothing."""

from decimal import Decimal

from evosync.models import CachedProduct, RunStatus, SyncLink
from evosync.services.sync.mapping import restricted_family, sku_for
from evosync.services.sync.runner import run_sync
from tests.sync_engine.conftest import open_shop


def published_products(shop):
    """Sellable, priced, and not of a family that must not be sold at a distance (alcohol, tobacco)."""
    return [
        p
        for p in CachedProduct.query.filter_by(user_id=shop.user_id).all()
        if p.allow_to_sell and p.price and Decimal(p.price) > 0 and restricted_family(p.type) is None
    ]


def test_first_sync_publishes_selected_products(fast_vk, sandbox):
    """Every sellable product of the enabled store becomes exactly one VK item with its own photo."""
    shop = open_shop(sandbox, n_products=30)
    run = run_sync(shop.user_id)
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.error
    expected = {sku_for(p.store_evotor_id, p.evotor_id) for p in published_products(shop)}
    items = shop.vk_items()
    skus = [i["sku"] for i in items]
    assert len(skus) == len(set(skus)), "duplicate items"
    assert set(skus) == expected
    photo_ids = [i["main_photo_id"] for i in items]
    assert len(set(photo_ids)) == len(items)
    assert all(4 <= len(i["title"]) <= 100 for i in items)
    albums = sandbox.vk.albums(shop.group_id)
    assert albums, "albums were created for Evotor groups"
    assert run.created_count == len(expected)
    assert SyncLink.query.filter_by(user_id=shop.user_id, status="published").count() + SyncLink.query.filter_by(
        user_id=shop.user_id, status="unavailable"
    ).count() == len(expected)


def test_resync_with_nothing_changed_makes_zero_writes(fast_vk, sandbox):
    """After a first sync, a second one makes no write call at all."""
    shop = open_shop(sandbox, n_products=20)
    first = run_sync(shop.user_id)
    assert first.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), first.error
    writes_before = sandbox.vk.stats["writes"]
    second = run_sync(shop.user_id)
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert sandbox.vk.stats["writes"] == writes_before
    assert second.created_count == second.updated_count == second.removed_count == 0


def test_cli_dry_run_and_sync(fast_vk, sandbox, runner):
    """`flask sync-vk --dry-run` prints the plan and writes nothing; without it, it publishes."""
    shop = open_shop(sandbox, n_products=8)
    from evosync.services.vk_catalog.refresh import refresh_vk_catalog

    refresh_vk_catalog(shop.user_id)
    result = runner.invoke(args=["sync-vk", "--user", shop.user.email, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and "create" in result.output
    assert sandbox.vk.stats["writes"] == 0
    result = runner.invoke(args=["sync-vk", "--user", shop.user.email])
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    assert shop.vk_items()
