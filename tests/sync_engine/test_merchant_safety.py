"""Merchant safety with the sandbox: restricted goods stay off VK, VK's moderation is respected, fields the merchant
leaves to VK survive a sync (issue 21, parts 1, 2 and 4)."""

from __future__ import annotations

from evosync.extensions import db
from evosync.models import AuditLog, CachedProduct, RunStatus, SyncLink
from evosync.services.sync.mapping import sku_for
from evosync.services.sync.runner import run_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches
from tests.sync_web.test_flows import GOOD_SETTINGS
from tests.vk_catalog.conftest import Market

ALCOHOL_REASON = "not published: alcohol (distance selling is forbidden)"


def _settings(client, **changes) -> None:
    form = dict(GOOD_SETTINGS)
    form.update(changes)
    form = {k: v for k, v in form.items() if v is not None}
    answer = client.post("/sync/settings", data=form)
    assert answer.status_code == 302, answer.text[:2000]


def _ours(shop) -> dict[str, dict]:
    return {i["title"]: i for i in shop.vk_items()}


def test_alcohol_stays_off_vk_until_switched_on_and_goes_when_switched_off(fast_vk, sandbox):
    shop = open_shop(sandbox, n_products=8)
    ev, token, store = sandbox.evotor, shop.evotor_token, shop.stores[0]
    beer = ev.add_product(token, store, "Пиво светлое «Жигулёвское»", price=89, quantity=20, type="ALCOHOL_NOT_MARKED")
    shop.refresh()
    (own_beer,) = Market(sandbox, shop.vk_token, shop.group_id).add_items(1, prefix="Пиво моё собственное")

    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED
    assert "Пиво светлое «Жигулёвское»" not in _ours(shop)
    assert {"title": "Пиво светлое «Жигулёвское»", "reason": ALCOHOL_REASON} in [
        {k: s[k] for k in ("title", "reason")} for s in run.details["skipped"]
    ]
    client = logged_in_client(fast_vk, shop.user)
    page = client.get(f"/catalog/stores/{store}/products?lang=en")
    assert ALCOHOL_REASON in page.text
    assert ALCOHOL_REASON in client.get("/sync/preview?lang=en").text
    assert ALCOHOL_REASON in client.get(f"/sync/runs/{run.id}?lang=en").text

    _settings(client, publish_alcohol="y")  # the merchant takes the responsibility: on record
    audit = db.session.scalars(db.select(AuditLog).filter_by(action="sync.restricted_goods")).all()
    assert [a.details for a in audit] == [{"published": {"alcohol": True}}] and audit[0].actor_id == shop.user_id
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert "Пиво светлое «Жигулёвское»" in _ours(shop)

    _settings(client)  # switched off again: the beer EvoSync published goes, the merchant's own stays
    run = run_sync(shop.user_id)
    alcohol = [r for r in CachedProduct.query.filter_by(user_id=shop.user_id) if r.type.startswith("ALCOHOL")]
    assert run.status == RunStatus.SUCCEEDED and run.removed_count == len(alcohol) >= 1
    skus = {i["sku"] for i in shop.vk_items()}
    assert not skus & {sku_for(r.store_evotor_id, r.evotor_id) for r in alcohol}
    assert not next(i for i in sandbox.vk.items(shop.group_id) if i["id"] == own_beer)["deleted"]
    link = SyncLink.query.filter_by(user_id=shop.user_id, evotor_product_id=beer["id"]).one()
    assert link.last_error == ALCOHOL_REASON
    problems = mismatches(sandbox, shop.user_id, shop.group_id)
    assert problems == [f"extra sku-{shop.group_id}-Пиво моё собственное-1 'Пиво моё собственное 0001'"]


def test_a_rejected_item_is_shown_left_alone_and_sent_again_on_change_or_request(fast_vk, sandbox):
    shop = open_shop(sandbox, n_products=6)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    item = shop.vk_items()[0]
    sandbox.vk.reject_item(shop.group_id, item["id"], "Товар заблокирован", "Фото не соответствует товару")

    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes, "a rejected item is not rewritten on every run"
    client = logged_in_client(fast_vk, shop.user)
    dashboard = client.get("/sync")
    assert 'id="needs-attention"' in dashboard.text and "Фото не соответствует товару" in dashboard.text
    products = client.get("/vk-catalog/products")
    assert "Фото не соответствует товару" in products.text and "moderate-again" in products.text

    # The merchant asks again: the next sync sends the item to moderation once more.
    answer = client.post(f"/vk-catalog/items/{item['id']}/moderate-again")
    assert answer.status_code == 302
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes + 1
    assert 'id="needs-attention"' not in client.get("/sync").text

    # Rejected again; then the product changes in Evotor: sent again without being asked.
    sandbox.vk.reject_item(shop.group_id, item["id"], "Товар заблокирован")
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    row = CachedProduct.query.filter_by(user_id=shop.user_id).filter(CachedProduct.name != "").all()
    sku_of = {r.evotor_id: r for r in row}
    link = SyncLink.query.filter_by(user_id=shop.user_id, vk_item_id=item["id"]).one()
    product = sku_of[link.evotor_product_id]
    sandbox.evotor.update_product(shop.evotor_token, product.store_evotor_id, product.evotor_id, price=777)
    shop.refresh()
    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes + 1
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []


def test_another_merchants_item_cannot_be_sent_to_moderation(fast_vk, sandbox):
    shop = open_shop(sandbox, n_products=3)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    other = open_shop(sandbox, n_products=3)
    client = logged_in_client(fast_vk, other.user)
    assert client.post(f"/vk-catalog/items/{shop.vk_items()[0]['id']}/moderate-again").status_code == 404


def test_a_description_the_merchant_leaves_to_vk_survives_a_sync(fast_vk, sandbox):
    shop = open_shop(sandbox, n_products=4)
    client = logged_in_client(fast_vk, shop.user)
    _settings(client, vk_owned="description")
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    item = shop.vk_items()[0]
    mine = "Моё описание из VK: свежий урожай, доставка по району бесплатно."
    Market(sandbox, shop.vk_token, shop.group_id).call("market.edit", item_id=item["id"], description=mine)
    link = SyncLink.query.filter_by(user_id=shop.user_id, vk_item_id=item["id"]).one()
    sandbox.evotor.update_product(
        shop.evotor_token,
        link.store_evotor_id,
        link.evotor_product_id,
        name="Новое имя из Эвотора",
        description="Другое",
    )
    shop.refresh()
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    after = next(i for i in sandbox.vk.items(shop.group_id) if i["id"] == item["id"])
    assert after["description"] == mine, "VK decides the description"
    assert after["title"].startswith("Новое имя из Эвотора"), "Evotor still decides the name"
    assert "Description" in client.get("/sync/preview?lang=en").text
