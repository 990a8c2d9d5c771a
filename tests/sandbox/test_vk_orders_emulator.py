"""The VK emulator's orders: the four order methods as VK's API schema describes them, and Callback API deliveries
(confirmation first, the secret key, the readings of repeats and of stock)."""

from __future__ import annotations

import io
import json

import pytest
import requests
from PIL import Image

from evosync.sandbox.readings import Readings
from tests.sandbox.test_vk_emulator import ADMIN, GID, OTHER, OWNER, api, ok


@pytest.fixture
def shop(sandbox):
    sandbox.vk.add_user(ADMIN)
    sandbox.vk.add_user(OTHER)
    sandbox.vk.add_community(GID, "Тестовый магазин", admin_tokens=(ADMIN,), screen_name="testshop")
    sandbox.vk.rate_limit_enabled = False
    item = ok(
        sandbox,
        "market.add",
        owner_id=OWNER,
        name="Чай зелёный",
        description="Листовой чай, 100 г",
        category_id=700,
        price="250.00",
        stock_amount=5,
        main_photo_id=_photo(sandbox),
    )
    return sandbox, item["market_item_id"]


def _photo(sandbox) -> int:
    """A saved product photo (VK's market.add needs a main photo)."""
    server = ok(sandbox, "market.getProductPhotoUploadServer", group_id=GID)["upload_url"]
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), "green").save(buffer, "PNG")
    uploaded = requests.post(server, files={"file": ("p.png", buffer.getvalue(), "image/png")}, timeout=10).json()
    return ok(sandbox, "market.saveProductPhoto", upload_response=json.dumps(uploaded))["photo_id"]


def test_order_methods_answer_as_the_schema_says(shop):
    """getGroupOrders newest first with count <= 50; getOrderById; getOrderItems; editOrder with 1456 and 1436."""
    sandbox, item_id = shop
    first = sandbox.vk.orders.place_order(GID, [(item_id, 2)], comment="Позвоните")
    second = sandbox.vk.orders.place_order(GID, [(item_id, 1)])
    page = ok(sandbox, "market.getGroupOrders", group_id=GID, count=50)
    assert page["count"] == 2 and [o["id"] for o in page["items"]] == [second["id"], first["id"]]
    assert api(sandbox, "market.getGroupOrders", group_id=GID, count=51)["error"]["error_code"] == 100
    order = ok(sandbox, "market.getOrderById", order_id=first["id"], user_id=first["user_id"])["order"]
    assert (order["status"], order["comment"], order["total_price"]["amount"]) == (0, "Позвоните", "50000")
    items = ok(sandbox, "market.getOrderItems", order_id=first["id"])
    assert items["count"] == 1 and (items["items"][0]["item_id"], items["items"][0]["quantity"]) == (item_id, 2)
    assert ok(sandbox, "market.editOrder", user_id=first["user_id"], order_id=first["id"], status=4) == 1
    assert ok(sandbox, "market.getOrderById", order_id=first["id"])["order"]["status"] == 4
    bad = api(sandbox, "market.editOrder", user_id=first["user_id"], order_id=first["id"], status=9)
    assert bad["error"]["error_code"] == 1456
    assert api(sandbox, "market.getOrderById", order_id=999)["error"]["error_code"] == 1436
    assert "error" in api(sandbox, "market.getGroupOrders", token=OTHER, group_id=GID), "admins only"


def test_callbacks_confirm_first_carry_the_secret_and_stop_when_not_confirmed(shop):
    """The first event is preceded by the confirmation request; a wrong answer means no events are sent."""
    sandbox, item_id = shop
    seen = []

    def answer(url, body):
        seen.append(body)
        return "c0de" if body["type"] == "confirmation" else "ok"

    sandbox.vk.orders.set_callback_server(GID, "http://app/vk/callback", "s3cret", "c0de")
    sandbox.vk.orders.sender = answer
    sandbox.vk.orders.place_order(GID, [(item_id, 1)])
    assert [b["type"] for b in seen] == ["confirmation", "market_order_new"]
    assert seen[1]["secret"] == "s3cret" and seen[1]["event_id"] and seen[1]["object"]["group_id"] == GID
    seen.clear()
    sandbox.vk.orders.set_callback_server(GID, "http://app/vk/callback", "s3cret", "other-code")
    sandbox.vk.orders.place_order(GID, [(item_id, 1)])
    assert [b["type"] for b in seen] == ["confirmation"], "not confirmed: nothing else is sent"


@pytest.mark.parametrize("readings", [Readings(order_callbacks="repeated_out_of_order")], indirect=True)
def test_the_messy_reading_repeats_events_and_sends_an_older_one_late(shop, readings):
    sandbox, item_id = shop
    seen = []
    sandbox.vk.orders.set_callback_server(GID, "http://app/vk/callback", "s", "c")
    sandbox.vk.orders.sender = lambda url, body: (seen.append(body), "c" if body["type"] == "confirmation" else "ok")[1]
    order = sandbox.vk.orders.place_order(GID, [(item_id, 1)])
    sandbox.vk.orders.set_status_as_vk(order["id"], 5)
    types = [(b["type"], b.get("event_id")) for b in seen if b["type"] != "confirmation"]
    assert types[0] == types[1], "repeated"
    assert types[-1] == types[0], "the older event comes again after the newer one"


@pytest.mark.parametrize("readings", [Readings(vk_decrements_stock=True)], indirect=True)
def test_the_stock_reading_lowers_and_restores_stock(shop, readings):
    sandbox, item_id = shop
    order = sandbox.vk.orders.place_order(GID, [(item_id, 2)])
    assert next(i for i in sandbox.vk.items(GID) if i["id"] == item_id)["stock_amount"] == 3
    sandbox.vk.orders.set_status_as_vk(order["id"], 5)
    assert next(i for i in sandbox.vk.items(GID) if i["id"] == item_id)["stock_amount"] == 5
