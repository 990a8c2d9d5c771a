"""A merchant with an Evotor catalog and a VK community in the sandbox, both connected, store enabled."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, VkConnection
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.evotor_catalog.scope import set_store_enabled
from tests.factories import make_user
from tests.readings import parametrize_with_profiles


def pytest_generate_tests(metafunc):
    """Every test here that talks to the sandbox runs under each set of readings (tests/readings.py)."""
    parametrize_with_profiles(metafunc)


_ids = itertools.count(1)


@dataclass
class Shop:
    sandbox: object
    user: object
    evotor_token: str
    vk_token: str
    group_id: int
    stores: list[str] = field(default_factory=list)

    @property
    def user_id(self) -> int:
        return self.user.id

    def vk_items(self, live_only: bool = True) -> list[dict]:
        items = self.sandbox.vk.items(self.group_id)
        return [i for i in items if not i.get("deleted")] if live_only else items

    def refresh(self) -> None:
        summary = refresh_catalog(self.user_id)
        assert summary.status == "ok", summary


def open_shop(sandbox, n_products: int = 30, seed: int = 3, n_stores: int = 1, enable: bool = True) -> Shop:
    n = next(_ids)
    user = make_user()
    evotor_token, vk_token = f"evotor-token-{n}-{user.id}", f"vk-token-{n}-{user.id}"
    group_id = 700000 + n * 10 + user.id % 10
    sandbox.evotor.add_account(evotor_token)
    seeded = sandbox.evotor.seed_catalog(evotor_token, n_products, n_stores=n_stores, seed=seed, with_images_ratio=0.3)
    sandbox.vk.add_user(vk_token)
    sandbox.vk.add_community(group_id, f"Магазин {n}", admin_tokens=(vk_token,))
    db.session.add_all(
        [
            EvotorConnection(user_id=user.id, access_token=evotor_token, state=ConnectionState.CONNECTED),
            VkConnection(
                user_id=user.id,
                access_token=vk_token,
                group_id=group_id,
                group_name=f"Магазин {n}",
                market_enabled=True,
                state=ConnectionState.CONNECTED,
            ),
        ]
    )
    db.session.commit()
    shop = Shop(
        sandbox,
        user,
        evotor_token,
        vk_token,
        group_id,
        stores=[s["id"] if isinstance(s, dict) else s for s in seeded["stores"]],
    )
    shop.refresh()
    if enable:
        for store_id in shop.stores:
            set_store_enabled(user.id, store_id, True)
    return shop


@pytest.fixture
def sync_app(app, sandbox):
    """The app pointed at the sandbox; the emulator's 3 req/s rule stays on, our limiter keeps to it."""
    app.config.update(EVOTOR_API_URL=sandbox.evotor_url, VK_API_URL=sandbox.vk_url, VK_TIMEOUT=3.0, EVOTOR_TIMEOUT=3.0)
    sandbox.evotor.page_size = 50
    return app


@pytest.fixture
def fast_vk(sync_app, sandbox):
    """The emulator's rate rule off and our limiter wide open: for tests about logic, not pace."""
    sandbox.vk.rate_limit_enabled = False
    sync_app.config["VK_RATE_LIMIT_PER_SECOND"] = 10_000
    return sync_app
