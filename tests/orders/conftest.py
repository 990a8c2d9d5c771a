"""A synced shop (Evotor catalog published to the sandbox's VK) with orders on, and helpers to act as VK."""

from __future__ import annotations

import json

from evosync.extensions import db
from evosync.models import CachedProduct, RunStatus, SyncLink
from evosync.services import vk_orders
from evosync.services.sync.runner import run_sync
from tests.sync_engine.conftest import fast_vk, open_shop, sync_app  # noqa: F401 - fixtures used here

CALLBACK = "/vk/callback"


def orders_shop(sandbox, n_products: int = 12):
    """A merchant whose catalog is synced to VK, with orders on (polling) and a callback secret."""
    shop = open_shop(sandbox, n_products=n_products)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    settings = vk_orders.ensure_settings(shop.user_id)
    settings.enabled = True
    settings.confirmation_code = "c0nf1rm"
    db.session.commit()
    shop.secret = settings.callback_secret
    return shop


def stocked(shop, n: int = 1, at_least: int = 3) -> list[tuple[SyncLink, CachedProduct]]:
    """``n`` published products with at least ``at_least`` units in Evotor (link, mirror row)."""
    rows = db.session.execute(
        db.select(SyncLink, CachedProduct)
        .join(
            CachedProduct,
            (CachedProduct.user_id == SyncLink.user_id)
            & (CachedProduct.store_evotor_id == SyncLink.store_evotor_id)
            & (CachedProduct.evotor_id == SyncLink.evotor_product_id),
        )
        .where(SyncLink.user_id == shop.user_id, SyncLink.vk_item_id.is_not(None), CachedProduct.quantity >= at_least)
        .order_by(SyncLink.id)
    ).all()
    assert len(rows) >= n, "the seeded catalog has too few stocked products"
    return [(link, product) for link, product in rows[:n]]


def vk_stock(shop, vk_item_id: int) -> int | None:
    return next(i["stock_amount"] for i in shop.sandbox.vk.items(shop.group_id) if i["id"] == vk_item_id)


def connect_callbacks(app, shop, secret: str | None = None) -> list:
    """The sandbox's VK sends this shop's callbacks through the app's test client; returns the answers seen."""
    client = app.test_client()
    answers = []

    def send(url, body):
        response = client.post(CALLBACK, data=json.dumps(body), content_type="application/json")
        answers.append((response.status_code, response.get_data(as_text=True)))
        return response.get_data(as_text=True)

    shop.sandbox.vk.orders.set_callback_server(shop.group_id, "http://app" + CALLBACK, secret or shop.secret, "c0nf1rm")
    shop.sandbox.vk.orders.sender = send
    return answers
