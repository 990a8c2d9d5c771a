"""Orders come back from VK by the minute poll and by VK's Callback API, alone and together, each stored once.

Real HTTP against the sandbox's VK (which keeps orders and sends callbacks through the app's test client).
The tests that depend on how VK delivers callbacks run under both readings (repeated/out of order or not) and
both readings of whether VK lowers stock itself on an order.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import VkOrder, VkOrderEvent, VkOrderItem
from evosync.sandbox.readings import Readings
from evosync.services import vk_orders
from evosync.services.notifications import sms_outbox
from tests.factories import emails_to
from tests.orders.conftest import CALLBACK, connect_callbacks, orders_shop, stocked

ORDER_READINGS = [
    pytest.param(Readings(), id="callbacks-once"),
    pytest.param(Readings(order_callbacks="repeated_out_of_order"), id="callbacks-repeated-out-of-order"),
    pytest.param(Readings(vk_decrements_stock=True), id="vk-decrements-stock"),
    pytest.param(
        Readings(order_callbacks="repeated_out_of_order", vk_decrements_stock=True), id="repeated-and-vk-decrements"
    ),
]


def _orders(user_id: int) -> list[VkOrder]:
    return db.session.scalars(sa.select(VkOrder).where(VkOrder.user_id == user_id).order_by(VkOrder.id)).all()


def _place(shop, quantity: int = 2, comment: str = "Позвоните перед доставкой"):
    [(link, product)] = stocked(shop, 1, at_least=quantity + 1)
    order = shop.sandbox.vk.orders.place_order(
        shop.group_id, [(link.vk_item_id, quantity)], comment=comment, address="Москва"
    )
    return order, link, product


@pytest.mark.parametrize("readings", ORDER_READINGS, indirect=True)
def test_the_poll_alone_stores_a_new_order_with_its_lines_mapped_to_evotor(fast_vk, sandbox, readings):
    """No callbacks: the minute poll finds the order, stores it once with its lines mapped back to the Evotor
    product through our link, and emails the merchant a link to it; a second poll changes nothing."""
    shop = orders_shop(sandbox)
    order, link, product = _place(shop)
    summary = vk_orders.poll_orders(shop.user_id)
    assert summary.status == "ok" and summary.created == 1, summary
    [row] = _orders(shop.user_id)
    assert (row.vk_order_id, row.status, row.first_seen_via) == (order["id"], 0, "poll")
    assert row.comment == "Позвоните перед доставкой" and row.total_kopecks == int(order["total_price"]["amount"])
    [line] = row.items
    assert (line.vk_item_id, line.quantity) == (link.vk_item_id, 2)
    assert (line.store_evotor_id, line.evotor_product_id) == (product.store_evotor_id, product.evotor_id)
    [mail] = emails_to(fast_vk, shop.user.email)
    assert f"/orders/{row.id}" in mail.body and order["display_order_id"] in mail.subject
    again = vk_orders.poll_orders(shop.user_id)
    assert again.created == 0 and len(_orders(shop.user_id)) == 1
    assert len(emails_to(fast_vk, shop.user.email)) == 1, "one alert per order"


def test_sms_goes_with_the_email_only_with_the_opt_in(fast_vk, sandbox):
    """The new-order alert adds an SMS when the merchant gave a phone and opted in, and not otherwise."""
    shop = orders_shop(sandbox)
    _place(shop)
    vk_orders.poll_orders(shop.user_id)
    assert sms_outbox() == []
    fast_vk.config["SMS_PROVIDER"] = "locmem"
    shop.user.phone, shop.user.sms_alerts = "+79990001122", True
    db.session.commit()
    _place(shop, quantity=1)
    vk_orders.poll_orders(shop.user_id)
    [(phone, text)] = sms_outbox()
    assert phone == "+79990001122" and "/orders/" in text


@pytest.mark.parametrize("readings", ORDER_READINGS, indirect=True)
def test_a_callback_alone_stores_the_order_at_once(fast_vk, sandbox, readings):
    """VK's market_order_new reaches the endpoint, which answers "ok" and (the worker, inline here) reads the order
    from VK: stored once via the callback, even when VK repeats the event."""
    shop = orders_shop(sandbox)
    answers = connect_callbacks(fast_vk, shop)
    order, link, _product = _place(shop)
    assert answers[0] == (200, "c0nf1rm"), "the confirmation handshake comes first"
    assert all(answer == (200, "ok") for answer in answers[1:])
    [row] = _orders(shop.user_id)
    assert (row.vk_order_id, row.first_seen_via, row.items_complete) == (order["id"], "callback", True)
    assert [(i.vk_item_id, i.quantity) for i in row.items] == [(link.vk_item_id, 2)]
    assert len(emails_to(fast_vk, shop.user.email)) == 1
    events = db.session.scalars(sa.select(VkOrderEvent)).all()
    assert len({e.event_id for e in events}) == len(events) == 1, "a repeated event id is recorded once"


@pytest.mark.parametrize("readings", ORDER_READINGS, indirect=True)
def test_out_of_order_and_repeated_callbacks_end_in_vks_current_state(fast_vk, sandbox, readings):
    """A status change in VK, then (under the messy reading) the older "new" event once more, late: the order ends
    in the status VK has now, because the worker reads VK, not the event's copy."""
    shop = orders_shop(sandbox)
    connect_callbacks(fast_vk, shop)
    order, _link, _product = _place(shop)
    sandbox.vk.orders.set_status_as_vk(order["id"], 5)  # cancelled by the shopper in VK
    [row] = _orders(shop.user_id)
    assert row.status == 5
    sent = [d["body"]["type"] for d in sandbox.vk.orders.deliveries if d["body"]["type"] != "confirmation"]
    if readings.order_callbacks == "repeated_out_of_order":
        assert sent[-1] == "market_order_new", "the older event really came last"
    assert len(emails_to(fast_vk, shop.user.email)) == 1


def test_poll_and_callback_together_store_the_order_once(fast_vk, sandbox):
    """The same order from both paths: one row, one set of lines, one alert."""
    shop = orders_shop(sandbox)
    connect_callbacks(fast_vk, shop)
    order, _link, _product = _place(shop)
    vk_orders.poll_orders(shop.user_id)
    vk_orders.poll_orders(shop.user_id)
    [row] = _orders(shop.user_id)
    assert row.vk_order_id == order["id"] and len(row.items) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VkOrderItem)) == 1
    assert len(emails_to(fast_vk, shop.user.email)) == 1


def test_the_poll_first_then_the_late_callback_changes_nothing(fast_vk, sandbox):
    """The poll stored it before VK's callback arrived: the callback finds it and adds nothing."""
    shop = orders_shop(sandbox)
    order, _link, _product = _place(shop)  # no callback server yet: VK sends nothing
    vk_orders.poll_orders(shop.user_id)
    client = fast_vk.test_client()
    body = {"type": "market_order_new", "object": order, "group_id": shop.group_id, "event_id": "late-1"}
    body["secret"] = shop.secret
    response = client.post(CALLBACK, data=json.dumps(body), content_type="application/json")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok")
    [row] = _orders(shop.user_id)
    assert row.first_seen_via == "poll"
    assert len(emails_to(fast_vk, shop.user.email)) == 1


def test_a_bad_secret_is_refused_with_403_and_nothing_is_stored(fast_vk, sandbox):
    """A callback with a wrong secret key: 403, no event, no order, no alert."""
    shop = orders_shop(sandbox)
    answers = connect_callbacks(fast_vk, shop, secret="not-the-secret")
    _place(shop)
    assert answers[0] == (200, "c0nf1rm")  # the handshake carries no secret
    assert answers[1][0] == 403 and "secret" in answers[1][1]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VkOrderEvent)) == 0
    assert _orders(shop.user_id) == []
    assert emails_to(fast_vk, shop.user.email) == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"group_id": 5}', 400, "'type'"),
        (b'{"type": "market_order_new"}', 400, "group_id"),
        (b'{"type": "confirmation", "group_id": 999999}', 403, "confirmation code"),
    ],
)
def test_bad_callback_input_gets_a_clear_answer_and_nothing_is_stored(fast_vk, body, status, words):
    """Malformed deliveries are answered with what is wrong, never a traceback, and leave nothing behind."""
    response = fast_vk.test_client().post(CALLBACK, data=body, content_type="application/json")
    assert response.status_code == status
    assert words in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VkOrderEvent)) == 0


def test_a_signed_event_without_an_order_id_is_refused(fast_vk, sandbox):
    """The right secret but no order in the object: 400 naming the field; nothing stored."""
    shop = orders_shop(sandbox)
    body = {"type": "market_order_new", "group_id": shop.group_id, "event_id": "e1", "secret": shop.secret}
    response = fast_vk.test_client().post(CALLBACK, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and "object.id" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VkOrderEvent)) == 0


def test_vk_down_while_polling_then_the_next_poll_catches_up(fast_vk, sandbox):
    """VK answers 5xx to the poll: nothing is stored, the page will say VK did not answer; the next poll stores
    every order placed meanwhile."""
    shop = orders_shop(sandbox)
    _place(shop)
    for _ in range(10):  # more than the client's retries
        sandbox.vk.faults.push("5xx", method="market.getGroupOrders")
    failed = vk_orders.poll_orders(shop.user_id)
    assert failed.status == "failed"
    assert _orders(shop.user_id) == []
    assert "did not answer" in vk_orders.get_settings(shop.user_id).last_poll_error
    sandbox.vk.faults.clear()
    _place(shop, quantity=1)
    caught_up = vk_orders.poll_orders(shop.user_id)
    assert caught_up.status == "ok" and caught_up.created == 2
    assert len(_orders(shop.user_id)) == 2
    assert vk_orders.get_settings(shop.user_id).last_poll_error is None


def test_vk_down_when_the_callback_is_read_keeps_the_order_and_the_poll_completes_it(fast_vk, sandbox):
    """The callback arrives but VK cannot be read just then: the order is kept from the event's own copy (nothing
    lost, the merchant is alerted), and the next poll reads its lines in full."""
    shop = orders_shop(sandbox)
    connect_callbacks(fast_vk, shop)
    for _ in range(10):
        sandbox.vk.faults.push("5xx", method="market.getOrderById")
    order, _link, _product = _place(shop)
    [row] = _orders(shop.user_id)
    assert row.vk_order_id == order["id"] and not row.items_complete
    assert db.session.scalar(sa.select(VkOrderEvent.status)) == "failed"
    sandbox.vk.faults.clear()
    vk_orders.poll_orders(shop.user_id)
    db.session.refresh(row)
    assert row.items_complete and len(row.items) == 1
    assert len(emails_to(fast_vk, shop.user.email)) == 1


def test_the_queued_event_keeps_no_secret_and_the_api_document_describes_the_endpoint(fast_vk, sandbox):
    """The secret key VK sends is checked, never stored; /openapi.json describes POST /vk/callback."""
    shop = orders_shop(sandbox)
    connect_callbacks(fast_vk, shop)
    for _ in range(10):  # VK unreadable: the event keeps its body (without the secret) for a look
        sandbox.vk.faults.push("5xx", method="market.getOrderById")
    _place(shop)
    body = db.session.scalar(sa.select(VkOrderEvent.body))
    assert body and "secret" not in json.loads(body) and shop.secret not in body
    doc = fast_vk.test_client().get("/openapi.json").get_json()
    assert "post" in doc["paths"][CALLBACK]
    assert set(doc["paths"][CALLBACK]["post"]["responses"]) >= {"200", "400", "403", "503"}


def test_the_minute_schedule_polls_merchants_with_orders_on_only(fast_vk, sandbox):
    """The periodic fan-out polls each merchant with orders on (here inline) and skips the others."""
    from evosync.jobs.orders import fanout_vk_orders
    from evosync.jobs.schedule import periodic_jobs

    entry = next(e for e in periodic_jobs(fast_vk.config) if e.name == "poll_vk_orders")
    assert entry.interval == 60 and entry.func is fanout_vk_orders
    shop = orders_shop(sandbox)
    _place(shop)
    other = orders_shop(sandbox)
    vk_orders.save_settings(other.user_id, False, [0, 1, 2, 3], "")
    result = fanout_vk_orders()
    assert result["enqueued"] == [shop.user_id]
    assert len(_orders(shop.user_id)) == 1 and _orders(other.user_id) == []
