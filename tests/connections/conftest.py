"""Fixtures of the connection tests: the app pointed at the sandbox, a partner secret, logged-in merchants."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import logged_in_client, make_user

PARTNER_SECRET = "partner-secret-0123456789abcdef"


class FreshContextClient(FlaskClient):
    """A test client whose every request runs in its own app context, as in production.

    The shared ``app`` fixture keeps one app context pushed for the whole test, and Flask reuses it for
    requests, so ``flask.g`` (where Flask-Login caches the user) would be shared by every request of the
    test: two users' clients would act as whichever user was loaded first.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def linked_app(app, sandbox):
    """The app talking to the sandbox emulators, with the Evotor partner secret configured."""
    app.test_client_class = FreshContextClient
    app.config.update(
        EVOTOR_API_URL=sandbox.evotor_url,
        VK_API_URL=sandbox.vk_url,
        EVOTOR_WEBHOOK_SECRET=PARTNER_SECRET,
        EVOTOR_TIMEOUT=5.0,
        VK_TIMEOUT=5.0,
    )
    return app


@pytest.fixture
def merchant(linked_app):
    return make_user()


@pytest.fixture
def merchant_client(linked_app, merchant):
    return logged_in_client(linked_app, merchant)


@pytest.fixture
def partner(linked_app):
    """A test client posting Evotor webhooks with the right partner secret."""
    client = linked_app.test_client()

    def post(path: str, body=None, *, secret: str | None = PARTNER_SECRET, data=None, headers=None):
        all_headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        all_headers.update(headers or {})
        if data is not None:
            return client.post(path, data=data, headers=all_headers, content_type="application/json")
        return client.post(path, json=body, headers=all_headers)

    return post
