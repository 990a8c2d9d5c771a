"""The shared layout: one active menu item per page, the version in the footer, local Bootstrap, phone viewport."""

from __future__ import annotations

import re

from evosync.version import __version__
from tests.factories import logged_in_client, make_user


def _active_links(page: str) -> list[str]:
    return re.findall(r'<a class="nav-link active"\s+aria-current="page" href="([^"]+)"', page)


def test_exactly_one_menu_item_is_active(app):
    """Dashboard and sync settings live in one blueprint, yet each page lights up only its own item."""
    client = logged_in_client(app, make_user())
    expected = {
        "/sync": "/sync",
        "/sync/settings": "/sync/settings",
        "/sync/preview": "/sync",
        "/connections": "/connections",
        "/profile": "/profile",
    }
    for path, active in expected.items():
        assert _active_links(client.get(path).get_data(as_text=True)) == [active], path


def test_layout_has_version_footer_local_assets_and_phone_viewport(app):
    """Every page carries the footer with the version, Bootstrap from this server, and the mobile viewport."""
    anonymous, merchant = app.test_client(), logged_in_client(app, make_user())
    for client, path in ((anonymous, "/login"), (merchant, "/profile"), (merchant, "/sync")):
        page = client.get(path).get_data(as_text=True)
        assert f"EvoSync {__version__}" in page.split("<footer", 1)[1], path
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert re.search(r'<link[^>]+href="/bootstrap/static/css/bootstrap\.min\.css', page), path
        assert "cdn.jsdelivr.net" not in page and "://cdn" not in page
