"""Friendly error pages (400, 403, 404, 500) in the site's layout: plain words, a way back, no traceback, no chat."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.models import SyncRun
from tests.factories import logged_in_client, make_user

EN = {"Accept-Language": "en"}


def _assert_friendly(resp, code: int, title: str) -> str:
    page = resp.get_data(as_text=True)
    assert resp.status_code == code
    assert resp.mimetype == "text/html"
    assert f'<div class="display-4 text-secondary mb-3">{code}</div>' in page
    assert title in page
    assert "navbar" in page and "<footer" in page and "EvoSync 0." in page, "the page lives in the usual layout"
    assert 'href="/"' in page and "Go to the start page" in page
    assert "Traceback" not in page
    return page


def test_404_for_an_unknown_page_and_for_another_merchants_run(app):
    """A missing page and someone else's run both answer the same friendly 404 (nothing tells them apart)."""
    owner, visitor = make_user(), make_user()
    run = SyncRun(user_id=owner.id, status="succeeded")
    db.session.add(run)
    db.session.commit()
    client = logged_in_client(app, visitor)
    _assert_friendly(client.get("/no-such-page", headers=EN), 404, "Page not found")
    page = _assert_friendly(client.get(f"/sync/runs/{run.id}", headers=EN), 404, "Page not found")
    assert 'href="/sync"' in page, "a logged-in merchant still has the navigation"


def test_403_for_a_user_without_the_permission(app):
    """A user whose roles do not grant catalog.view gets a 403 page saying whom to ask."""
    client = logged_in_client(app, make_user(roles=()))
    page = _assert_friendly(client.get("/sync", headers=EN), 403, "You do not have access to this page")
    assert "ask your administrator" in page


def test_400_for_a_form_without_its_csrf_token(app):
    """A form post that lost its CSRF token (an expired page) answers 400 with advice to reload."""
    app.config["WTF_CSRF_ENABLED"] = True
    client = logged_in_client_with_csrf(app, make_user())
    page = _assert_friendly(client.post("/sync/run", headers=EN), 400, "The request could not be understood")
    assert "reload the page" in page


def logged_in_client_with_csrf(app, user):
    """Log in through the real form with its CSRF token (CSRF is on for this test)."""
    import re

    from tests.factories import PASSWORD

    client = app.test_client()
    login_page = client.get("/login", headers=EN).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}, headers=EN)
    assert resp.status_code in (302, 303), resp.get_data(as_text=True)[:300]
    return client


@pytest.fixture
def raising_app(app):
    """The test app with a route that fails the way a bug would."""

    def explode():
        raise RuntimeError("a bug in a view")

    app.add_url_rule("/test-only/explode", "test_only_explode", explode)
    return app


def test_500_when_a_view_raises(raising_app, caplog):
    """An unexpected exception becomes a friendly 500 page (and is logged); the exception text is not shown."""
    client = logged_in_client(raising_app, make_user())
    page = _assert_friendly(client.get("/test-only/explode", headers=EN), 500, "Something went wrong on our side")
    assert "a bug in a view" not in page and "RuntimeError" not in page
    assert any(r.getMessage() == "unhandled error" for r in caplog.records)


def test_program_paths_get_json_errors_not_pages(raising_app):
    """API clients get JSON for the same errors, never the HTML page."""
    client = raising_app.test_client()
    resp = client.get("/api/no-such-thing")
    assert resp.status_code == 404 and resp.is_json and resp.get_json()["errors"][0]["code"] == 404
