"""The JivoSite chat widget: on merchants' pages when JIVOSITE_WIDGET_ID is set; never on login, admin or error
pages, and nowhere at all when it is unset."""

from __future__ import annotations

import pytest
from flask import g, request_started

from evosync import create_app
from evosync.extensions import db
from tests.conftest import _test_overrides
from tests.factories import logged_in_client, make_user

WIDGET_ID = "AbCd123xyz"
WIDGET_TAG = f'src="https://code.jivosite.com/widget/{WIDGET_ID}"'


@pytest.fixture
def chat_app(app, _database, redis_url):
    """A second app built with the widget configured (the CSP is built at start, so the setting must be there then)."""
    chat = create_app({**_test_overrides(_database, redis_url), "JIVOSITE_WIDGET_ID": WIDGET_ID})
    request_started.connect(_forget_request_globals, chat)
    with chat.app_context():
        yield chat
        db.session.remove()


def test_widget_on_merchant_pages_only(chat_app):
    """A logged-in merchant has the chat on their pages, and the CSP lets it load; login, error and admin pages
    have none."""
    anonymous = chat_app.test_client()
    assert WIDGET_TAG not in anonymous.get("/login").get_data(as_text=True)
    assert WIDGET_TAG not in anonymous.get("/register").get_data(as_text=True)

    merchant = logged_in_client(chat_app, make_user())
    for path in ("/profile", "/sync", "/connections"):
        resp = merchant.get(path)
        assert resp.status_code == 200 and WIDGET_TAG in resp.get_data(as_text=True), path
        csp = resp.headers["Content-Security-Policy"]
        assert "https://*.jivosite.com" in csp.split("script-src", 1)[1].split(";", 1)[0], csp
    assert WIDGET_TAG not in merchant.get("/no-such-page").get_data(as_text=True), "error pages stay quiet"

    admin = logged_in_client(chat_app, make_user(roles=("admin",)))
    resp = admin.get("/admin/")
    assert resp.status_code == 200 and "jivosite" not in resp.get_data(as_text=True)


def test_no_widget_anywhere_when_unset(app):
    """Without JIVOSITE_WIDGET_ID no page mentions JivoSite, and the CSP does not allow it either."""
    assert not app.config.get("JIVOSITE_WIDGET_ID")
    merchant = logged_in_client(app, make_user())
    for path in ("/profile", "/sync", "/connections", "/login"):
        resp = merchant.get(path)
        assert "jivosite" not in resp.get_data(as_text=True), path
        assert "jivosite" not in resp.headers.get("Content-Security-Policy", "")


def _forget_request_globals(sender, **extra) -> None:
    """The test keeps one app context (one `g`) across requests; Flask-Login caches the user there: forget it."""
    for name in ("_login_user", "fs_authn_via", "fs_paa"):
        g.pop(name, None)
