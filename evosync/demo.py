"""The demo merchant of `make run`: connections pointing at the sandbox emulators (never in production)."""

from __future__ import annotations

import logging

import requests
from flask import current_app

from .extensions import db
from .models import CachedProduct, ConnectionState, EvotorConnection, SyncLink, User, VkConnection
from .services import accounts, vk_orders
from .services.evotor_catalog.refresh import refresh_catalog
from .services.evotor_catalog.scope import set_store_enabled, store_enabled_map
from .services.sync.starts import request_sync

log = logging.getLogger(__name__)

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - printed in the terminal on purpose: it opens a sandbox account
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"  # noqa: S105
DEMO_EVOTOR_TOKEN = "demo-evotor-token"  # noqa: S105 - the sandbox's seeded demo tokens
DEMO_VK_TOKEN = "demo-vk-token"  # noqa: S105
DEMO_VK_GROUP_ID = 100001


class DemoRefused(RuntimeError):
    """Demo data is never created outside demo mode."""


def ensure_demo_accounts() -> User:
    """Create (once) the demo merchant with sandbox connections and a system admin; returns the merchant."""
    if current_app.config.get("PRODUCTION") or not current_app.config.get("DEMO_MODE"):
        raise DemoRefused("demo accounts are only created with DEMO_MODE on and never in production")
    merchant = accounts.find_user_by_email(DEMO_EMAIL)
    if merchant is None:
        merchant = accounts.create_user(DEMO_EMAIL, DEMO_PASSWORD, role="user", name="Демо-продавец")
    if accounts.find_user_by_email(ADMIN_EMAIL) is None:
        accounts.create_user(ADMIN_EMAIL, ADMIN_PASSWORD, role="system", name="Администратор")
    if db.session.scalar(db.select(EvotorConnection).filter_by(user_id=merchant.id)) is None:
        db.session.add(
            EvotorConnection(
                user_id=merchant.id, access_token=DEMO_EVOTOR_TOKEN, source="manual", state=ConnectionState.CONNECTED
            )
        )
    if db.session.scalar(db.select(VkConnection).filter_by(user_id=merchant.id)) is None:
        db.session.add(
            VkConnection(
                user_id=merchant.id,
                access_token=DEMO_VK_TOKEN,
                group_id=DEMO_VK_GROUP_ID,
                group_name="Демо-магазин EvoSync",
                market_enabled=True,
                state=ConnectionState.CONNECTED,
            )
        )
    db.session.commit()
    return merchant


def start_demo_flow(merchant: User) -> None:
    """Mirror the demo catalog, switch its first store on, and sync: products appear in the emulated VK market."""
    summary = refresh_catalog(merchant.id)
    stores = store_enabled_map(merchant.id)
    if stores and not any(stores.values()):
        set_store_enabled(merchant.id, sorted(stores)[0], True)
    request_sync(merchant.id, trigger="manual")
    try:
        connect_demo_orders(merchant.id)  # orders on, and the sandbox's VK sends its callbacks here
    except Exception:  # noqa: BLE001 - the demo works without callbacks: the minute poll finds the orders
        log.warning("demo orders: callbacks not set up; the poll still reads orders", exc_info=True)
    log.info("demo flow started", extra={"catalog": summary.status})


# --------------------------------------------------------------------------------------------- VK orders (demo)


def _sandbox_base() -> str:
    """The sandbox's root, from VK_API_URL (``http://127.0.0.1:8100/vk/method`` -> ``http://127.0.0.1:8100``)."""
    url = current_app.config.get("VK_API_URL") or ""
    if "/vk/" not in url:
        raise DemoRefused("Test orders need the sandbox's VK (make run's demo).")
    return url.rsplit("/vk/", 1)[0]


def connect_demo_orders(user_id: int) -> None:
    """Orders on for the demo merchant, and the sandbox's VK told to send its callbacks to this app."""
    settings = vk_orders.ensure_settings(user_id)
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    if conn is None or not conn.group_id:
        raise DemoRefused("The demo merchant has no VK community.")
    answer = requests.post(
        _sandbox_base() + "/control/vk/callback-server",
        json={
            "group_id": int(conn.group_id),
            "url": current_app.config["BASE_URL"].rstrip("/") + "/vk/callback",
            "secret": settings.callback_secret,
        },
        timeout=5,
    )
    answer.raise_for_status()
    settings.enabled = True
    settings.confirmation_code = answer.json()["confirmation"]
    db.session.commit()


def place_test_order(user_id: int) -> dict:
    """As a shopper: order 1 unit of one of the merchant's items EvoSync published (with stock) in the sandbox's VK.

    Returns ``{"quantity", "title", "order"}``; DemoRefused (with words for the page) when it cannot.
    """
    if current_app.config.get("PRODUCTION") or not current_app.config.get("DEMO_MODE"):
        raise DemoRefused("Test orders exist only in the demo.")
    connect_demo_orders(user_id)  # idempotent: the sandbox may have restarted and forgotten our callback server
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    rows = db.session.execute(
        db.select(SyncLink.vk_item_id, CachedProduct.name, CachedProduct.quantity)
        .join(
            CachedProduct,
            (CachedProduct.user_id == SyncLink.user_id)
            & (CachedProduct.store_evotor_id == SyncLink.store_evotor_id)
            & (CachedProduct.evotor_id == SyncLink.evotor_product_id),
        )
        .where(SyncLink.user_id == user_id, SyncLink.vk_item_id.is_not(None), CachedProduct.quantity >= 2)
        .order_by(SyncLink.id)
        .limit(1)
    ).first()
    if rows is None:
        raise DemoRefused("No product of yours is in VK with stock yet: run a sync first, then try again.")
    group_id, item_id, title = int(conn.group_id), int(rows.vk_item_id), rows.name
    db.session.commit()  # end the read: the sandbox's callback writes to the database while we wait for it
    try:
        answer = requests.post(
            _sandbox_base() + "/control/vk/orders",
            json={
                "group_id": group_id,
                "items": [{"item_id": item_id, "quantity": 1}],
                "comment": "Тестовый заказ: позвоните, пожалуйста, перед доставкой",
            },
            timeout=10,
        )
        answer.raise_for_status()
    except requests.RequestException as exc:
        log.warning("test order not placed", extra={"error": str(exc)})
        raise DemoRefused("The sandbox's VK did not take the test order. Is `make run` still running?") from None
    return {"quantity": 1, "title": title, "order": answer.json()}
