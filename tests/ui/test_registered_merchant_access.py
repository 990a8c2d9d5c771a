"""Someone who signs up on /register becomes a merchant: after confirming the email, the merchant pages open."""

from __future__ import annotations

from evosync.models import User
from tests.factories import PASSWORD, emails_to, link_in, login


def test_self_registered_user_gets_the_merchant_role_and_reaches_the_merchant_pages(app):
    """Register, confirm, log in: /sync, /connections and /catalog/stores answer 200 (not 403), with the checklist."""
    client = app.test_client()
    email = "newshop@example.com"
    resp = client.post("/register", data={"email": email, "password": PASSWORD, "password_confirm": PASSWORD})
    assert resp.status_code == 302
    user = User.query.filter_by(email=email).one()
    assert user.role_names == {"user"}
    (message,) = emails_to(app, email)
    client.get(link_in(message, "/confirm-email"))
    assert login(client, email).status_code == 302
    for path in ("/sync", "/connections", "/catalog/stores", "/vk-catalog/albums", "/sync/settings"):
        assert client.get(path).status_code == 200, path
    assert 'id="onboarding"' in client.get("/profile").get_data(as_text=True)
