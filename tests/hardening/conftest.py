"""Hardening fixtures: a synced shop owner and a stranger, both logged in; fresh request globals per request."""

from __future__ import annotations

import pytest

from evosync.models import RunStatus
from evosync.services.sync.runner import run_sync
from evosync.services.vk_catalog.refresh import refresh_vk_catalog
from tests.factories import logged_in_client, make_user
from tests.sync_engine.conftest import fast_vk, open_shop, sync_app  # noqa: F401  (fixtures reused as they are)


@pytest.fixture
def synced_shop(fast_vk, sandbox):  # noqa: F811
    """A merchant whose 12 products were synced to VK once (stores, groups, a run, albums in every mirror)."""
    shop = open_shop(sandbox, n_products=12)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert refresh_vk_catalog(shop.user_id).status == "ok"
    return shop


@pytest.fixture
def owner(fast_vk, synced_shop):  # noqa: F811
    return logged_in_client(fast_vk, synced_shop.user)


@pytest.fixture
def stranger(fast_vk):  # noqa: F811
    """Another merchant, logged in, with nothing of their own."""
    return logged_in_client(fast_vk, make_user())
