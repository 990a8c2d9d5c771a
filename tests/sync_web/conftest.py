"""Fixtures for the sync pages: the engine's sandbox shop, a logged-in browser, and helpers to read pages."""

from __future__ import annotations

import re

import pytest

from tests.factories import logged_in_client, make_user
from tests.sync_engine.conftest import fast_vk, open_shop, sync_app  # noqa: F401  (fixtures reused as they are)


@pytest.fixture
def shop(fast_vk, sandbox):  # noqa: F811
    """A merchant with Evotor and VK connected in the sandbox, 12 products, the store enabled."""
    return open_shop(sandbox, n_products=12)


@pytest.fixture
def web(fast_vk, shop):  # noqa: F811
    """The shop owner's logged-in browser."""
    return logged_in_client(fast_vk, shop.user)


@pytest.fixture
def stranger(fast_vk):  # noqa: F811
    """Another merchant, logged in, with nothing connected."""
    return logged_in_client(fast_vk, make_user())


def html(resp) -> str:
    return resp.get_data(as_text=True)


def csrf_from(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, "no CSRF token on the page"
    return match.group(1)
