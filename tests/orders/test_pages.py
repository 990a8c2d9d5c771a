"""The orders pages: what a merchant sees, filters and search, changing a status in VK, settings, only one's own
orders, the admin's read-only view, and the demo's "place a test order as a shopper" button."""

from __future__ import annotations

import re

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import VkOrder
from evosync.services import vk_orders
from tests.factories import logged_in_client, make_user
from tests.orders.conftest import orders_shop, stocked


def _shop_with_orders(sandbox):
    shop = orders_shop(sandbox)
    (link_a, product_a), (link_b, _product_b) = stocked(shop, 2, at_least=3)
    first = sandbox.vk.orders.place_order(shop.group_id, [(link_a.vk_item_id, 2)], comment="Позвоните заранее")
    second = sandbox.vk.orders.place_order(shop.group_id, [(link_b.vk_item_id, 1)], comment="Самовывоз")
    sandbox.vk.orders.set_status_as_vk(second["id"], 4)
    assert vk_orders.poll_orders(shop.user_id).status == "ok"
    return shop, first, second, product_a


def _row(shop, vk_order_id: int) -> VkOrder:
    return db.session.scalar(
        sa.select(VkOrder).where(VkOrder.user_id == shop.user_id, VkOrder.vk_order_id == vk_order_id)
    )


def test_the_list_shows_number_date_status_items_total_and_comment(fast_vk, sandbox):
    """Each order: its number, date, status in words, items under their Evotor names with quantities, the total
    and the customer's comment."""
    shop, first, _second, product_a = _shop_with_orders(sandbox)
    page = logged_in_client(fast_vk, shop.user).get("/orders").get_data(as_text=True)
    assert first["display_order_id"] in page and "Позвоните заранее" in page
    assert f"2 × {product_a.name}" in page
    assert "New" in page and "Completed" in page
    total = int(first["total_price"]["amount"]) // 100
    assert re.search(
        rf"{total // 1000 or ''}.?{total % 1000:03d},\d\d ₽" if total >= 1000 else rf"{total},\d\d ₽", page
    )


def test_filters_and_search(fast_vk, sandbox):
    """Open/closed, one status, and a search over the number, the comment and the items."""
    shop, first, second, product_a = _shop_with_orders(sandbox)
    client = logged_in_client(fast_vk, shop.user)
    open_page = client.get("/orders?show=open").get_data(as_text=True)
    assert first["display_order_id"] in open_page and second["display_order_id"] not in open_page
    closed = client.get("/orders?show=closed").get_data(as_text=True)
    assert second["display_order_id"] in closed and first["display_order_id"] not in closed
    done = client.get("/orders?status=4").get_data(as_text=True)
    assert second["display_order_id"] in done and first["display_order_id"] not in done
    found = client.get("/orders?q=самовывоз").get_data(as_text=True)
    assert second["display_order_id"] in found and first["display_order_id"] not in found
    by_number = client.get(f"/orders?q={first['display_order_id']}").get_data(as_text=True)
    assert first["display_order_id"] in by_number and second["display_order_id"] not in by_number


def test_the_merchant_changes_the_status_in_vk_from_the_order_page(fast_vk, sandbox):
    """The order page's form calls market.editOrder; VK and EvoSync then agree on the new status."""
    shop, first, _second, _product = _shop_with_orders(sandbox)
    row = _row(shop, first["id"])
    client = logged_in_client(fast_vk, shop.user)
    page = client.get(f"/orders/{row.id}").get_data(as_text=True)
    assert 'id="status-form"' in page
    response = client.post(f"/orders/{row.id}/status", data={"status": "2"}, follow_redirects=True)
    assert response.status_code == 200 and "Status changed in VK" in response.get_data(as_text=True)
    assert sandbox.vk.orders.orders(shop.group_id)[0]["status"] == 2
    db.session.refresh(row)
    assert row.status == 2


def test_a_vk_refusal_is_said_plainly(fast_vk, sandbox):
    """VK down when the status is changed: the page says nothing changed and to try again; no traceback."""
    shop, first, _second, _product = _shop_with_orders(sandbox)
    row = _row(shop, first["id"])
    for _ in range(10):
        sandbox.vk.faults.push("10", method="market.editOrder")
    client = logged_in_client(fast_vk, shop.user)
    page = client.post(f"/orders/{row.id}/status", data={"status": "1"}, follow_redirects=True).get_data(as_text=True)
    assert "Nothing was changed" in page and "Traceback" not in page
    db.session.refresh(row)
    assert row.status == 0


def test_the_status_form_needs_the_csrf_token(fast_vk, sandbox):
    """With CSRF on (as in production) a post without the token changes nothing in VK."""
    shop, first, _second, _product = _shop_with_orders(sandbox)
    row = _row(shop, first["id"])
    client = logged_in_client(fast_vk, shop.user)
    fast_vk.config["WTF_CSRF_ENABLED"] = True
    response = client.post(f"/orders/{row.id}/status", data={"status": "5"})
    assert response.status_code in (302, 400)
    assert sandbox.vk.orders.orders(shop.group_id)[0]["status"] == 0


def test_nobody_sees_or_changes_another_merchants_order(fast_vk, sandbox):
    """Another merchant gets 404 for the page and the status post, and their list is empty."""
    shop, first, _second, _product = _shop_with_orders(sandbox)
    row = _row(shop, first["id"])
    other = logged_in_client(fast_vk, make_user())
    assert other.get(f"/orders/{row.id}").status_code == 404
    assert other.post(f"/orders/{row.id}/status", data={"status": "5"}).status_code == 404
    assert first["display_order_id"] not in other.get("/orders").get_data(as_text=True)
    assert sandbox.vk.orders.orders(shop.group_id)[0]["status"] == 0


def test_settings_turn_orders_on_choose_open_statuses_and_show_the_callback_keys(fast_vk, sandbox):
    """The settings page shows the callback address and secret key; saving keeps the choices."""
    user = make_user()
    client = logged_in_client(fast_vk, user)
    page = client.get("/orders/settings").get_data(as_text=True)
    settings = vk_orders.get_settings(user.id)
    assert "/vk/callback" in page and settings.callback_secret in page
    client.post("/orders/settings", data={"enabled": "y", "open_statuses": ["0", "1"], "confirmation_code": "abc123"})
    db.session.refresh(settings)
    assert (settings.enabled, settings.open_statuses, settings.confirmation_code) == (True, "0,1", "abc123")
    assert "EvoSync does not read your VK orders yet" not in client.get("/orders").get_data(as_text=True)


def test_orders_off_says_what_to_do(fast_vk):
    """A merchant who never turned orders on is told so, with the way to do it."""
    page = logged_in_client(fast_vk, make_user()).get("/orders").get_data(as_text=True)
    assert "EvoSync does not read your VK orders yet" in page and "/orders/settings" in page


def test_admins_get_a_read_only_view(fast_vk, sandbox):
    """Admins list orders, lines and callback events in Flask-Admin; nothing there creates, edits or deletes."""
    shop, first, _second, _product = _shop_with_orders(sandbox)
    admin = logged_in_client(fast_vk, make_user(roles=("admin",)))
    for url in ("/admin/vk-orders/", "/admin/vk-order-items/", "/admin/vk-order-events/"):
        response = admin.get(url)
        assert response.status_code == 200, url
    assert first["display_order_id"] in admin.get("/admin/vk-orders/").get_data(as_text=True)
    assert admin.get("/admin/vk-orders/new/").status_code in (403, 404)
    assert admin.get("/admin/vk-orders/edit/?id=1").status_code in (403, 404)
    assert admin.post("/admin/vk-orders/delete/", data={"id": "1"}).status_code in (403, 404, 405)
    merchant = logged_in_client(fast_vk, shop.user)
    assert merchant.get("/admin/vk-orders/").status_code in (302, 403, 404)


def test_the_demo_button_places_a_test_order_as_a_shopper(fast_vk, sandbox):
    """In the demo, the button orders one unit of a published product in the sandbox's VK; the poll brings it."""
    shop = orders_shop(sandbox)
    fast_vk.config["DEMO_MODE"] = True
    client = logged_in_client(fast_vk, shop.user)
    assert 'id="test-order"' in client.get("/orders").get_data(as_text=True)
    page = client.post("/orders/test-order", follow_redirects=True).get_data(as_text=True)
    assert "A shopper ordered" in page
    [order] = sandbox.vk.orders.orders(shop.group_id)
    vk_orders.poll_orders(shop.user_id)
    assert _row(shop, order["id"]) is not None


def test_no_demo_button_outside_the_demo(fast_vk, sandbox):
    """Outside demo mode the button is not shown and its route is 404."""
    shop = orders_shop(sandbox)
    client = logged_in_client(fast_vk, shop.user)
    assert 'id="test-order"' not in client.get("/orders").get_data(as_text=True)
    assert client.post("/orders/test-order").status_code == 404
