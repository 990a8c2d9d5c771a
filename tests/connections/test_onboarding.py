"""A merchant who installs EvoSync from Evotor gets in: the welcome email, a password, the Evotor connection
live and the catalog mirrored, the checklist pointing at VK; and the ways in without an email."""

from __future__ import annotations

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import CachedProduct, EvotorConnection, User, UserStatus
from evosync.services import admin as admin_service
from tests.factories import PASSWORD, emails_to, link_in, login, make_user

EVOTOR_USER = "01-000000020000001"
NEW_PASSWORD = "Green-Tractor-42"


def _evotor_account(sandbox) -> str:
    """An Evotor account in the emulator with one store and one product; its cloud token."""
    token = "cloud-token-onboarding"
    sandbox.evotor.add_account(token)
    store = sandbox.evotor.add_store(token, "Main street")
    sandbox.evotor.add_product(token, store["id"], name="Kvass", price=99)
    return token


def _user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def _products_of(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(CachedProduct).where(CachedProduct.user_id == user_id)
    )


def test_install_with_email_welcome_link_sets_password_confirms_and_logs_in(linked_app, partner, sandbox):
    """/user/create with an email sends one welcome email; its link sets the password, confirms the address and
    logs the merchant in, active; /user/token already mirrored the catalog; the checklist's next step is VK."""
    token = _evotor_account(sandbox)
    assert partner("/user/create", {"userId": EVOTOR_USER, "email": "Shop@Example.com"}).status_code == 200
    assert partner("/user/token", {"userId": EVOTOR_USER, "token": token}).status_code == 200
    user = _user("shop@example.com")
    assert user.status == UserStatus.PENDING and user.password is None
    assert _products_of(user.id) == 1  # the refresh ran as soon as the token came (inline jobs in tests)

    (welcome,) = emails_to(linked_app, "shop@example.com")
    assert welcome.subject == "Welcome to EvoSync: please confirm your email"
    link = link_in(welcome, "/invite")
    browser = linked_app.test_client()
    assert browser.get(link).status_code == 200
    resp = browser.post(link, data={"name": "Anna", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")
    user = _user("shop@example.com")
    assert user.status == UserStatus.ACTIVE and user.confirmed_at is not None

    profile = browser.get("/profile").get_data(as_text=True)
    assert "Connect your VK community" in profile and "/connections#vk" in profile
    connections = browser.get("/connections").get_data(as_text=True)
    assert "Connected" in connections
    assert browser.get(link).status_code == 410  # the link worked once
    repeat = partner("/user/create", {"userId": EVOTOR_USER, "email": "shop@example.com"})
    assert repeat.status_code == 200 and len(emails_to(linked_app, "shop@example.com")) == 1


def test_forgot_password_activates_a_pending_evotor_account(linked_app, partner):
    """The merchant who ignores the welcome email and uses "Forgot your password?" instead ends up active and
    logged in with the new password, not on the resend-confirmation page."""
    client = linked_app.test_client()
    partner("/user/create", {"userId": EVOTOR_USER, "email": "forgetful@example.com"})
    client.post("/forgot-password", data={"email": "forgetful@example.com"})
    reset = link_in(emails_to(linked_app, "forgetful@example.com")[-1], "/reset-password/")
    resp = client.post(reset, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert resp.status_code == 302 and "/resend-confirm" not in resp.headers["Location"]
    assert _user("forgetful@example.com").status == UserStatus.ACTIVE
    resp = login(client, "forgetful@example.com", NEW_PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")


def test_placeholder_account_is_claimed_by_an_admin_invite(linked_app, partner, sandbox):
    """Without an email: the account has a placeholder address and its catalog is mirrored on /user/token; an admin
    gives it the owner's address and an invitation, and the owner joins with the Evotor connection in place."""
    token = _evotor_account(sandbox)
    partner("/user/create", {"userId": EVOTOR_USER})
    partner("/user/token", {"userId": EVOTOR_USER, "token": token})
    conn = db.session.scalar(sa.select(EvotorConnection).filter_by(evotor_user_id=EVOTOR_USER))
    placeholder = db.session.get(User, conn.user_id)
    assert placeholder.email.endswith("@evotor.invalid") and _products_of(placeholder.id) == 1
    assert sent_to_placeholder(linked_app) == []

    admin = make_user("admin@example.com", roles=("admin",))
    admin_service.edit(
        admin, placeholder, name="", email="owner@example.com", phone="", roles=["user"], status=UserStatus.PENDING
    )
    admin_service.reinvite(admin, _user("owner@example.com"))
    link = link_in(emails_to(linked_app, "owner@example.com")[-1], "/invite")
    browser = linked_app.test_client()
    browser.post(link, data={"name": "Oleg", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    owner = _user("owner@example.com")
    assert owner.id == placeholder.id and owner.status == UserStatus.ACTIVE
    assert "Connected" in browser.get("/connections").get_data(as_text=True)


def sent_to_placeholder(app) -> list:
    return [m for m in emails_to(app, "@evotor.invalid")]


def test_verify_links_an_existing_account_and_the_token_mirrors_its_catalog(linked_app, partner, sandbox):
    """A merchant who already has an account links it with /user/verify; the token then mirrors the catalog."""
    token = _evotor_account(sandbox)
    user = make_user("existing@example.com")
    resp = partner("/user/verify", {"userId": EVOTOR_USER, "login": "existing@example.com", "password": PASSWORD})
    assert resp.status_code == 200
    partner("/user/token", {"userId": EVOTOR_USER, "token": token})
    assert _products_of(user.id) == 1
    assert emails_to(linked_app, "existing@example.com") == []  # no welcome email for an account they have


def test_token_links_of_the_query_form_reach_the_token_pages(app, client):
    """`/confirm-email?token=T` and `/reset-password?token=T` go where `/confirm-email/T` and `/reset-password/T`
    go (the token kept); without a token they still lead to the resend and forgot pages."""
    resp = client.get("/confirm-email?token=abc.DEF-1")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/confirm-email/abc.DEF-1")
    resp = client.get("/reset-password?token=abc.DEF-1")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/reset-password/abc.DEF-1")
    assert client.get("/confirm-email").headers["Location"].endswith("/resend-confirm")
    assert client.get("/reset-password").headers["Location"].endswith("/forgot-password")
    followed = client.get("/reset-password?token=forged", follow_redirects=True)
    assert followed.status_code == 200 and "not valid" in followed.get_data(as_text=True)
