"""The merchant's stories on the sync pages: preview, settings, confirm removals, status JSON, catalog VK column."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from evosync.extensions import db
from evosync.models import CachedProduct, LinkStatus, RunStatus, SyncConfig, SyncLink, SyncRun
from evosync.services.evotor_catalog.scope import set_store_enabled
from evosync.services.sync.mapping import sku_for
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_web.conftest import html

GOOD_SETTINGS = {
    "markup_percent": "0",
    "price_rounding": "none",
    "out_of_stock": "unavailable",
    "removal": "delete",
    "category_id": "900",
    "description_template": "",
    "albums_enabled": "y",
    "publish_services": "y",
    "auto_sync": "y",
}


def test_preview_lists_creates_for_a_fresh_shop_and_nothing_after_a_sync(web, shop):
    """Before the first sync the dry run lists the products it would publish; after it, nothing is left to do."""
    page = html(web.get("/sync/preview"))
    assert 'id="preview-create"' in page
    product = db.session.scalar(
        db.select(CachedProduct).filter_by(user_id=shop.user_id, allow_to_sell=True).where(CachedProduct.price > 0)
    )
    assert " ".join(product.name.split())[:20] in page
    assert 'id="nothing-to-do"' not in page
    creates = page.count(
        "<tr><td>", page.index('id="preview-create"'), page.index("</section>", page.index('id="preview-create"'))
    )
    assert creates > 0 and f'<span class="badge text-bg-success">{creates}</span> new' in page
    assert shop.sandbox.vk.stats["writes"] == 0, "a preview never writes to VK"
    web.post("/sync/run")
    page = html(web.get("/sync/preview"))
    assert 'id="nothing-to-do"' in page
    assert '<span class="badge text-bg-primary">0</span> changed' in page
    assert 'id="preview-create"' not in page and 'id="preview-update"' not in page


def test_settings_validation_shows_errors_beside_fields_and_keeps_input(web, shop):
    """A markup out of range and an unknown placeholder are refused, each with its message, the input kept."""
    form = {**GOOD_SETTINGS, "markup_percent": "5000", "description_template": "{name} costs {cost}"}
    resp = web.post("/sync/settings", data=form)
    assert resp.status_code == 400
    page = html(resp)
    assert "The markup must be between -50 and 1000 percent." in page
    assert "Unknown placeholder: {cost}" in page
    assert 'value="5000"' in page and "{name} costs {cost}</textarea>" in page
    assert page.index("The markup must be between") > page.index('name="markup_percent"')
    assert page.index("Unknown placeholder") > page.index('name="description_template"')
    assert db.session.scalar(db.select(SyncConfig).filter_by(user_id=shop.user_id)) is None


def test_settings_refuse_a_category_not_in_the_list_and_an_overlong_template(web, shop):
    """The category must come from VK's list; the template holds at most 2000 characters."""
    form = {**GOOD_SETTINGS, "category_id": "123456", "description_template": "x" * 2001}
    page = html(web.post("/sync/settings", data=form))
    assert "Choose a category from the list." in page
    assert "at most 2000 characters" in page
    assert db.session.scalar(db.select(SyncConfig).filter_by(user_id=shop.user_id)) is None


def test_settings_markup_then_sync_edits_prices_in_vk(web, shop):
    """After a first sync, a 10 % markup saved on the page makes the next sync raise every VK price by 10 %."""
    web.post("/sync/run")
    writes = shop.sandbox.vk.stats["writes"]
    form = {**GOOD_SETTINGS, "markup_percent": "10", "description_template": "{name}, {measure}"}
    resp = web.post("/sync/settings", data=form)
    assert resp.status_code == 302
    assert "Settings saved" in html(web.get("/sync/settings"))
    config = db.session.scalar(db.select(SyncConfig).filter_by(user_id=shop.user_id))
    assert config.markup_percent == Decimal("10.00") and config.description_template == "{name}, {measure}"
    web.post("/sync/run")
    assert shop.sandbox.vk.stats["writes"] > writes
    run = db.session.scalar(db.select(SyncRun).filter_by(user_id=shop.user_id).order_by(SyncRun.id.desc()))
    assert run.updated_count > 0 and run.created_count == 0
    prices = {item["sku"]: int(item["price"]) for item in shop.vk_items()}
    products = db.session.scalars(db.select(CachedProduct).filter_by(user_id=shop.user_id))
    checked = 0
    for product in products:
        sku = sku_for(product.store_evotor_id, product.evotor_id)
        if sku in prices:
            expected = (Decimal(product.price) * Decimal("1.1")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            assert prices[sku] == int(expected * 100), product.name
            checked += 1
    assert checked == len(prices) > 0


def test_confirm_removals_flow(fast_vk, sandbox):
    """Switching off a store after a sync of > 10 items makes the next run wait; confirming removes the items."""
    shop = open_shop(sandbox, n_products=20)
    web = logged_in_client(fast_vk, shop.user)
    web.post("/sync/run")
    live = len(shop.vk_items())
    assert live > 10
    set_store_enabled(shop.user_id, shop.stores[0], False)
    web.post("/sync/run")
    waiting = db.session.scalar(db.select(SyncRun).filter_by(user_id=shop.user_id).order_by(SyncRun.id.desc()))
    assert waiting.status == RunStatus.WAITING_CONFIRMATION
    assert len(shop.vk_items()) == live, "nothing removed before confirmation"
    page = html(web.get(f"/sync/runs/{waiting.id}"))
    assert 'id="pending-removals"' in page and "Confirm removals" in page
    assert page.count("<li>", page.index('id="pending-removals"')) >= live
    assert "Removals wait for your confirmation" in html(web.get("/sync"))
    resp = web.post(f"/sync/runs/{waiting.id}/confirm")
    assert resp.status_code == 302
    assert shop.vk_items() == []
    confirmed = db.session.scalar(db.select(SyncRun).filter_by(user_id=shop.user_id).order_by(SyncRun.id.desc()))
    assert confirmed.id != waiting.id and confirmed.trigger == "confirm"
    assert confirmed.removed_count == live
    page = html(web.get(f"/sync/runs/{waiting.id}"))
    assert "You confirmed these removals." in page and "Confirm removals" not in page
    again = web.post(f"/sync/runs/{waiting.id}/confirm", follow_redirects=True)
    assert "no longer waits for confirmation" in html(again)


def test_status_json(web, shop):
    """The status API says null before any run, the last finished run after one, and the running run while it runs."""
    assert web.get("/api/sync/status").get_json() == {"run": None, "last_finished": None}
    web.post("/sync/run")
    body = web.get("/api/sync/status").get_json()
    assert body["run"] is None
    last = body["last_finished"]
    assert last["status"] in ("succeeded", "partial") and last["created"] == len(shop.vk_items())
    assert set(last) >= {
        "id",
        "status",
        "progress_done",
        "progress_total",
        "created",
        "updated",
        "removed",
        "failed",
        "started_at",
        "finished_at",
        "error",
    }
    assert last["finished_at"].endswith("Z")
    queued = SyncRun(
        user_id=shop.user_id, trigger="manual", status=RunStatus.QUEUED, progress_total=10, progress_done=4
    )
    db.session.add(queued)
    db.session.commit()
    body = web.get("/api/sync/status").get_json()
    assert body["run"]["id"] == queued.id and body["run"]["progress_done"] == 4
    assert body["last_finished"]["id"] == last["id"]
    page = html(web.get("/sync"))
    assert 'id="sync-progress"' in page and "4 of 10 steps done." in page


def test_status_api_needs_login(fast_vk):
    """A logged-out caller gets a JSON 401, not the login page."""
    resp = fast_vk.test_client().get("/api/sync/status")
    assert resp.status_code == 401 and resp.is_json


def test_status_is_documented_in_openapi(fast_vk):
    """/openapi.json documents the status endpoint and its run schema."""
    doc = fast_vk.test_client().get("/openapi.json").get_json()
    assert "get" in doc["paths"]["/api/sync/status"]
    assert "post" in doc["paths"]["/sync/run"]
    run_schema = doc["components"]["schemas"]["SyncRun"]
    assert "waiting_confirmation" in run_schema["properties"]["status"]["enum"]


def test_catalog_shows_vk_state_after_a_sync(web, shop):
    """After a sync the catalog's product list shows each product's VK state, published ones linking to vk.com."""
    url = f"/catalog/stores/{shop.stores[0]}/products"
    assert ">VK<" not in html(web.get(url)), "no column before the first sync"
    web.post("/sync/run")
    page = html(web.get(url))
    assert ">VK<" in page
    published = db.session.scalars(db.select(SyncLink).filter_by(user_id=shop.user_id, status=LinkStatus.PUBLISHED))
    link = next(iter(published))
    assert f"https://vk.com/market-{shop.group_id}?w=product-{shop.group_id}_{link.vk_item_id}" in page
    skipped = db.session.scalar(db.select(SyncLink).filter_by(user_id=shop.user_id, status=LinkStatus.SKIPPED))
    if skipped is not None:
        assert "not published" in page and skipped.last_error in page
    link.status, link.last_error = LinkStatus.ERROR, "VK error 100: photo is broken"
    db.session.commit()
    page = html(web.get(url))
    assert ">error<" in page and "VK error 100: photo is broken" in page


def test_retry_failed_starts_a_new_run(web, shop):
    """«Retry failed» on a partial run starts a new sync (trigger retry) that publishes what was missing."""
    failed = SyncRun(
        user_id=shop.user_id,
        trigger="manual",
        status=RunStatus.PARTIAL,
        failed_count=2,
        details={"failures": [{"key": "a:b", "title": "Чай зелёный", "reason": "VK error 1: unknown"}]},
    )
    db.session.add(failed)
    db.session.commit()
    page = html(web.get(f"/sync/runs/{failed.id}"))
    assert 'id="retry-form"' in page and "Чай зелёный" in page and "VK error 1: unknown" in page
    resp = web.post(f"/sync/runs/{failed.id}/retry")
    assert resp.status_code == 302
    retried = db.session.scalar(db.select(SyncRun).filter_by(user_id=shop.user_id).order_by(SyncRun.id.desc()))
    assert retried.id != failed.id and retried.trigger == "retry"
    assert retried.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL) and shop.vk_items()
