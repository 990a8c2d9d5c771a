"""Fixtures of the catalog tests: merchants with an Evotor connection pointing at the sandbox, and a seeded catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection
from evosync.services.evotor_catalog.refresh import refresh_catalog
from tests.factories import logged_in_client, make_user


@dataclass
class Merchant:
    user: object
    token: str
    stores: dict[str, str] = field(default_factory=dict)  # label -> Evotor store id
    groups: dict[str, str] = field(default_factory=dict)  # label -> Evotor group id
    products: dict[str, str] = field(default_factory=dict)  # label -> Evotor product id


def connect_merchant(sandbox, token: str, email: str | None = None) -> Merchant:
    """A user whose Evotor connection holds ``token``, registered in the Evotor emulator."""
    sandbox.evotor.add_account(token)
    user = make_user(email=email)
    db.session.add(
        EvotorConnection(user_id=user.id, access_token=token, state=ConnectionState.CONNECTED, source="manual")
    )
    db.session.commit()
    return Merchant(user=user, token=token)


def seed_small_catalog(sandbox, merchant: Merchant) -> Merchant:
    """Two stores; store A has a three-level group tree, a variants group and 17 products (pages of 5)."""
    ev, t = sandbox.evotor, merchant.token
    a = ev.add_store(t, "Магазин А", address="г. Пермь, ул. Ленина, 1")["id"]
    b = ev.add_store(t, "Магазин Б")["id"]
    merchant.stores.update(a=a, b=b)
    g = merchant.groups
    g["food"] = ev.add_group(t, a, "Продукты")["id"]
    g["dairy"] = ev.add_group(t, a, "Молочное", parent_id=g["food"])["id"]
    g["cheese"] = ev.add_group(t, a, "Сыры", parent_id=g["dairy"])["id"]
    g["drinks"] = ev.add_group(t, a, "Напитки")["id"]
    g["shirts"] = ev.add_group(
        t, a, "Футболка", attributes=[{"id": "size", "name": "Размер", "choices": [{"id": "m", "name": "M"}]}]
    )["id"]
    g["b_misc"] = ev.add_group(t, b, "Разное")["id"]
    p = merchant.products
    p["milk"] = ev.add_product(
        t, a, "Молоко 3,2%", 89.9, quantity=12, parent_id=g["dairy"], barcodes=["4601234567890"],
        description="Свежее", article_number="АРТ-1", code="101",
    )["id"]  # fmt: skip
    p["cheese"] = ev.add_product(
        t, a, "Сыр Российский", 650.5, quantity=2.345, parent_id=g["cheese"], measure_name="кг",
        barcodes=["2000000000015", "2000000000022"], tax="VAT_10", code="102",
    )["id"]  # fmt: skip
    p["shirt_m"] = ev.add_product(
        t, a, "Футболка M", 990, quantity=3, parent_id=g["shirts"], attributes_choices={"size": "m"}, code="103"
    )["id"]
    p["service"] = ev.add_product(t, a, "Доставка", 300, type="SERVICE", allow_to_sell=False, code="104")["id"]
    for i in range(13):
        p[f"water{i}"] = ev.add_product(
            t, a, f"Вода питьевая {i}", 40 + i, quantity=i, parent_id=g["drinks"], code=str(200 + i),
            barcodes=[f"46000000{i:05d}"], cost_price=20,
        )["id"]  # fmt: skip
    for i in range(3):
        p[f"b{i}"] = ev.add_product(t, b, f"Товар Б{i}", 10 + i, parent_id=g["b_misc"] if i else None)["id"]
    ev.add_image(t, a, p["milk"])
    ev.add_image(t, a, p["milk"])
    ev.add_image(t, a, p["cheese"])
    return merchant


@pytest.fixture
def evotor_app(app, sandbox):
    """The app pointed at the Evotor emulator, with pages of 5 so paging really happens."""
    app.config["EVOTOR_API_URL"] = sandbox.evotor_url
    sandbox.evotor.page_size = 5
    return app


@pytest.fixture
def merchant(evotor_app, sandbox) -> Merchant:
    """A connected merchant with the small two-store catalog in Evotor (not refreshed yet)."""
    return seed_small_catalog(sandbox, connect_merchant(sandbox, "token-merchant-a", "a@example.com"))


@pytest.fixture
def refreshed(merchant):
    """The merchant's catalog mirrored once."""
    assert refresh_catalog(merchant.user.id).ok
    return merchant


@pytest.fixture
def web(evotor_app, refreshed):
    """The mirrored merchant's logged-in test client."""
    return logged_in_client(evotor_app, refreshed.user)
