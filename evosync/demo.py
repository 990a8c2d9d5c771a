"""The demo merchant of `make run`: connections pointing at the sandbox emulators (never in production)."""

from __future__ import annotations

import logging

from flask import current_app

from .extensions import db
from .models import ConnectionState, EvotorConnection, User, VkConnection

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
    from .services import accounts

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
    from .services.evotor_catalog import refresh_catalog, set_store_enabled, store_enabled_map
    from .services.sync.requests import request_sync

    summary = refresh_catalog(merchant.id)
    stores = store_enabled_map(merchant.id)
    if stores and not any(stores.values()):
        set_store_enabled(merchant.id, sorted(stores)[0], True)
    request_sync(merchant.id, trigger="manual")
    log.info("demo flow started", extra={"catalog": summary.status})
