"""Stock that holds orders, end to end: VK shows Evotor's quantity less open orders, closing restores it, and a
sale rung up at the till is not subtracted twice. Under both readings of whether VK lowers stock itself."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.models import RunStatus
from evosync.sandbox.readings import Readings
from evosync.services import vk_orders
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.sync.runner import preview as build_preview
from evosync.services.sync.runner import run_sync
from tests.factories import logged_in_client
from tests.orders.conftest import connect_callbacks, orders_shop, stocked, vk_stock

STOCK_READINGS = [
    pytest.param(Readings(), id="vk-leaves-stock"),
    pytest.param(Readings(vk_decrements_stock=True, order_callbacks="repeated_out_of_order"), id="vk-decrements-stock"),
]


def _sync(shop) -> None:
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error


@pytest.mark.parametrize("readings", STOCK_READINGS, indirect=True)
def test_an_order_holds_stock_until_closed_and_a_till_sale_is_not_counted_twice(fast_vk, sandbox, readings):
    """Order 2 of 5: VK shows 3 (and the preview says "reserved 2"). Closed in VK: back to 5. Another order of 2,
    then the merchant rings those 2 up at the till (Evotor 5 -> 3): VK shows 3, not 1. Then completed in VK: 3."""
    shop = orders_shop(sandbox)
    connect_callbacks(fast_vk, shop)
    [(link, product)] = stocked(shop, 1, at_least=5)
    evotor = int(product.quantity)
    assert vk_stock(shop, link.vk_item_id) == evotor

    order = sandbox.vk.orders.place_order(shop.group_id, [(link.vk_item_id, 2)])
    preview = build_preview(shop.user_id).plan
    assert [(r.key, r.units) for r in preview.reserved] == [((product.store_evotor_id, product.evotor_id), 2)]
    _sync(shop)
    assert vk_stock(shop, link.vk_item_id) == evotor - 2

    vk_orders.change_status(shop.user_id, vk_orders._find(shop.user_id, shop.group_id, order["id"]).id, 5)
    _sync(shop)
    assert vk_stock(shop, link.vk_item_id) == evotor, "a cancelled order holds nothing"

    second = sandbox.vk.orders.place_order(shop.group_id, [(link.vk_item_id, 2)])
    _sync(shop)
    assert vk_stock(shop, link.vk_item_id) == evotor - 2
    sandbox.evotor.update_product(shop.evotor_token, product.store_evotor_id, product.evotor_id, quantity=evotor - 2)
    assert refresh_catalog(shop.user_id).status == "ok"
    _sync(shop)
    assert vk_stock(shop, link.vk_item_id) == evotor - 2, "the till sale and the hold are one sale, not two"

    sandbox.vk.orders.set_status_as_vk(second["id"], 4)  # completed, in VK
    _sync(shop)
    assert vk_stock(shop, link.vk_item_id) == evotor - 2


def test_the_preview_page_says_reserved(fast_vk, sandbox):
    """The merchant's preview lists the product with "reserved N"."""
    shop = orders_shop(sandbox)
    [(link, product)] = stocked(shop, 1, at_least=4)
    sandbox.vk.orders.place_order(shop.group_id, [(link.vk_item_id, 3)])
    vk_orders.poll_orders(shop.user_id)
    page = logged_in_client(fast_vk, shop.user).get("/sync/preview").get_data(as_text=True)
    assert 'id="preview-reserved"' in page and "reserved 3" in page


def test_closed_statuses_are_a_setting(fast_vk, sandbox):
    """Which statuses hold stock is the merchant's choice: with "being delivered" no longer open, such an order
    holds nothing."""
    shop = orders_shop(sandbox)
    [(link, _product)] = stocked(shop, 1, at_least=4)
    order = sandbox.vk.orders.place_order(shop.group_id, [(link.vk_item_id, 1)])
    sandbox.vk.orders.set_status_as_vk(order["id"], 3)
    vk_orders.poll_orders(shop.user_id)
    assert build_preview(shop.user_id).plan.reserved
    vk_orders.save_settings(shop.user_id, True, [0, 1, 2], "c0nf1rm")
    assert build_preview(shop.user_id).plan.reserved == []
    db.session.rollback()
