"""The demo's VK orders in a real browser, in Russian: "place a test order as a shopper", the order shows on the
orders page within a minute, VK's stock drops by its quantity, and closing the order in VK restores it."""

from __future__ import annotations

import re
import time

import pytest

from evosync.extensions import db
from evosync.models import CachedProduct, SyncLink
from tests.factories import PASSWORD
from tests.orders.conftest import orders_shop, vk_stock

pytestmark = pytest.mark.e2e


def _log_in(page, live_url: str, email: str) -> None:
    page.goto(f"{live_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/profile$"))


def _first_stocked(shop):
    """The product the demo's button orders: the first published one with at least 2 units."""
    link, product = db.session.execute(
        db.select(SyncLink, CachedProduct)
        .join(
            CachedProduct,
            (CachedProduct.user_id == SyncLink.user_id)
            & (CachedProduct.store_evotor_id == SyncLink.store_evotor_id)
            & (CachedProduct.evotor_id == SyncLink.evotor_product_id),
        )
        .where(SyncLink.user_id == shop.user_id, SyncLink.vk_item_id.is_not(None), CachedProduct.quantity >= 2)
        .order_by(SyncLink.id)
    ).first()
    return link, product


def test_a_test_order_shows_up_holds_vk_stock_and_closing_it_restores_it(
    live_app, live_url, sandbox, new_page, screenshot
):
    """The demo button places an order of 1 as a shopper; within a minute it is on the orders page (callbacks make
    it at once; the page is reloaded until then); VK's stock is the Evotor quantity less 1; marking the order
    completed from its page (market.editOrder) puts VK's stock back. No JavaScript error on the way."""
    live_app.config.update(DEMO_MODE=True, BASE_URL=live_url)
    shop = orders_shop(sandbox)
    link, product = _first_stocked(shop)
    evotor = int(product.quantity)
    assert vk_stock(shop, link.vk_item_id) == evotor

    page = new_page()
    _log_in(page, live_url, shop.user.email)
    page.goto(f"{live_url}/orders")
    page.click("#test-order")
    page.wait_for_url(re.compile(r"/orders$"))
    assert "Покупатель заказал" in page.locator("main").inner_text()

    started = time.monotonic()
    rows = page.locator("#orders-table tbody tr")
    while rows.count() == 0 and time.monotonic() - started < 60:
        page.wait_for_timeout(1000)
        page.reload()
    assert rows.count() == 1, "the order is on the page within a minute"
    row_text = rows.first.inner_text()
    assert "Новый" in row_text and f"1 × {product.name}" in row_text
    screenshot(page, "orders-list")

    deadline = time.monotonic() + 30
    while vk_stock(shop, link.vk_item_id) != evotor - 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert vk_stock(shop, link.vk_item_id) == evotor - 1, "VK's stock drops by the ordered quantity"

    rows.first.locator("a").first.click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    page.select_option("select[name=status]", "4")
    page.click("#change-status")
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    assert page.locator("#order-status").inner_text() == "Выполнен"
    screenshot(page, "order-closed")
    deadline = time.monotonic() + 30
    while vk_stock(shop, link.vk_item_id) != evotor and time.monotonic() < deadline:
        time.sleep(0.5)
    assert vk_stock(shop, link.vk_item_id) == evotor, "closing the order gives the unit back to VK"
    assert page.errors == []
