"""Admin tests: a merchant with data in every table the panel shows, and logged-in clients for each kind of user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from evosync.extensions import db
from evosync.models import (
    AuditLog,
    CachedGroup,
    CachedProduct,
    CachedStore,
    ConnectionState,
    EvotorConnection,
    Permission,
    Role,
    SyncLink,
    SyncRun,
    User,
    VkCachedAlbum,
    VkCachedProduct,
    VkConnection,
    VkOrder,
    VkOrderEvent,
    VkOrderItem,
)
from evosync.rbac import DEFAULT_ROLES
from tests.factories import logged_in_client, make_user

# Secrets planted in the merchant's connections; no admin page may ever show them.
SECRETS = {
    "evotor_access": "evotor-access-SECRET-1111aaaa2222bbbb",
    "evotor_api": "evosync-api-SECRET-3333cccc4444dddd",
    "evotor_signing": "signing-SECRET-5555eeee6666ffff",
    "vk_access": "vk1.a.SECRET-7777gggg8888hhhh",
    "vk_refresh": "vk1.r.SECRET-9999iiii0000jjjj",
}


@pytest.fixture(autouse=True)
def _english(app):
    """Assertions read the English msgids; the app's default language is Russian (a browser sending no
    Accept-Language gets it), so these tests ask for English. test_access renders the panel in Russian too."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"


@pytest.fixture(autouse=True)
def _restore_seeded_permissions(app):
    """role_permissions is seed data the suite keeps between tests; the role-matrix tests change it, so put the
    seeded matrix (rbac.DEFAULT_ROLES) back afterwards."""
    yield
    db.session.rollback()
    permissions = {p.name: p for p in db.session.query(Permission)}
    for role in db.session.query(Role):
        if role.name in DEFAULT_ROLES:
            role.permission_rows = [permissions[name] for name in DEFAULT_ROLES[role.name][1]]
    db.session.commit()


@dataclass
class Panel:
    """Who is who in a test of the panel, and the ids of one row in every table it shows."""

    merchant: User
    admin: User
    system: User
    ids: dict[str, int]


def fill_merchant_data(user: User) -> dict[str, int]:
    """One row in every merchant table the admin panel lists; returns {table: id}."""
    evotor = EvotorConnection(
        user_id=user.id,
        evotor_user_id=f"01-{user.id:06d}",
        access_token=SECRETS["evotor_access"],
        api_token=SECRETS["evotor_api"],
        webhook_signing_secret=SECRETS["evotor_signing"],
        state=ConnectionState.CONNECTED,
        source="manual",
    )
    vk = VkConnection(
        user_id=user.id,
        access_token=SECRETS["vk_access"],
        refresh_token=SECRETS["vk_refresh"],
        group_id=1000 + user.id,
        group_name="Shop community",
        state=ConnectionState.BROKEN,
        last_error="User authorization failed: access_token has expired.",
    )
    store = CachedStore(user_id=user.id, evotor_id="store-1", name="Main store")
    group = CachedGroup(user_id=user.id, store_evotor_id="store-1", evotor_id="group-1", name="Tea")
    products = [
        CachedProduct(
            user_id=user.id,
            store_evotor_id="store-1",
            evotor_id=f"p-{i}",
            name=f"Green tea {i}",
            price=Decimal("100.00"),
        )
        for i in range(3)
    ]
    album = VkCachedAlbum(user_id=user.id, group_id=1000 + user.id, vk_album_id=7, title="Tea")
    vk_product = VkCachedProduct(user_id=user.id, group_id=1000 + user.id, vk_item_id=77, title="Green tea 0")
    link = SyncLink(
        user_id=user.id,
        store_evotor_id="store-1",
        evotor_product_id="p-1",
        sku="sku-1",
        status="error",
        last_error="VK said: photo too small",
    )
    run = SyncRun(
        user_id=user.id,
        status="partial",
        trigger="manual",
        failed_count=1,
        error="1 product failed",
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5),
    )
    db.session.add_all([evotor, vk, store, group, *products, album, vk_product, link, run])
    db.session.commit()
    order = VkOrder(user_id=user.id, group_id=1000 + user.id, vk_order_id=501, display_id="9-501", status=0)
    order.items.append(VkOrderItem(user_id=user.id, vk_item_id=77, title="Green tea 0", quantity=2))
    event = VkOrderEvent(
        event_id=f"ev-{user.id}",
        user_id=user.id,
        group_id=1000 + user.id,
        event_type="market_order_new",
        vk_order_id=501,
    )
    db.session.add_all([order, event])
    db.session.commit()
    return {
        "evotor_connections": evotor.id,
        "vk_connections": vk.id,
        "evotor_stores": store.id,
        "evotor_groups": group.id,
        "evotor_products": products[0].id,
        "vk_albums": album.id,
        "vk_products": vk_product.id,
        "sync_links": link.id,
        "sync_runs": run.id,
        "vk_orders": order.id,
        "vk_order_items": order.items[0].id,
        "vk_order_events": event.id,
    }


@pytest.fixture
def panel(app) -> Panel:
    merchant = make_user(email="merchant@example.com", roles=("user",), name="Anna Merchant", phone="+7 912 000-00-01")
    admin = make_user(email="admin@example.com", roles=("admin",), name="Boris Admin")
    system = make_user(email="root@example.com", roles=("system",), name="Root")
    ids = fill_merchant_data(merchant)
    # A row as the accounts service writes for a self-service deletion (no actor), for the audit list tests.
    db.session.add(
        AuditLog(
            actor_id=None,
            actor_email="gone@example.com",
            action="account.delete",
            target_user_id=999,
            target_email="gone@example.com",
            details={"self_service": True},
        )
    )
    db.session.commit()
    ids["audit"] = db.session.query(AuditLog.id).scalar()
    ids["users"] = merchant.id
    return Panel(merchant=merchant, admin=admin, system=system, ids=ids)


@pytest.fixture
def admin_client(app, panel):
    return logged_in_client(app, panel.admin)


@pytest.fixture
def system_client(app, panel):
    return logged_in_client(app, panel.system)


@pytest.fixture
def merchant_client(app, panel):
    return logged_in_client(app, panel.merchant)


def reload(user: User) -> User | None:
    """The user as the database has it now (requests changed it behind the test's back)."""
    db.session.expire_all()
    return db.session.get(User, user.id)


def audit_rows(action: str | None = None) -> list[AuditLog]:
    db.session.expire_all()
    query = db.session.query(AuditLog).order_by(AuditLog.id)
    if action:
        query = query.filter(AuditLog.action == action)
    return query.all()
