"""The profile: what it shows, editing name/phone, changing email by confirmed link, changing the password."""

from __future__ import annotations

import datetime as dt

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, RunStatus, SyncRun, VkConnection, utcnow
from tests.factories import PASSWORD, emails_to, link_in, logged_in_client, login, make_user


def test_profile_shows_account_connections_and_last_sync(app):
    """Name, email, phone, role, status, the state of both connections and the latest sync run."""
    user = make_user("shop@example.com", name="Anna", phone="+7 900 000-00-00")
    db.session.add_all(
        [
            EvotorConnection(user_id=user.id, state=ConnectionState.CONNECTED),
            VkConnection(user_id=user.id, state=ConnectionState.BROKEN, group_name="Anna's shop"),
            SyncRun(user_id=user.id, status=RunStatus.FAILED, created_at=utcnow() - dt.timedelta(days=1)),
            SyncRun(user_id=user.id, status=RunStatus.PARTIAL, created_at=utcnow()),
        ]
    )
    db.session.commit()
    page = logged_in_client(app, user).get("/profile").get_data(as_text=True)
    for text in ("Anna", "shop@example.com", "+7 900 000-00-00", "Merchant", "Active", "Anna&#39;s shop"):
        assert text in page
    assert 'data-connection="evotor" data-state="connected"' in page
    assert 'data-connection="vk" data-state="broken"' in page
    assert "Finished with some errors" in page and "Failed" not in page


def test_profile_without_connections_and_anonymous(app, client):
    """A new merchant sees "Not connected" and "Not yet"; a visitor is sent to log in; / goes to the right place."""
    assert client.get("/profile").headers["Location"].startswith("/login")
    assert client.get("/").headers["Location"].endswith("/login")
    user = make_user()
    client = logged_in_client(app, user)
    page = client.get("/profile").get_data(as_text=True)
    assert page.count('data-state="not_connected"') == 2 and "Not yet" in page
    assert client.get("/").headers["Location"].endswith("/profile")


def test_edit_name_and_phone_with_errors_beside_fields(app):
    """A bad phone is refused next to the field with the typed values kept; a good one is saved."""
    user = make_user()
    client = logged_in_client(app, user)
    resp = client.post("/profile/edit", data={"name": "Boris", "phone": "call me maybe", "email": user.email})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Enter a phone number" in page
    assert 'value="Boris"' in page and 'value="call me maybe"' in page
    db.session.refresh(user)
    assert user.name == ""

    resp = client.post("/profile/edit", data={"name": "Boris", "phone": "+7 (912) 345-67-89", "email": user.email})
    assert resp.status_code == 302
    db.session.refresh(user)
    assert (user.name, user.phone) == ("Boris", "+7 (912) 345-67-89")
    assert emails_to(app, user.email) == []


def test_email_change_needs_the_new_address_confirmed(app):
    """A new email is pending until the link sent to it is opened; then it is the login, the old address gets
    a notice, and the link cannot be used again."""
    user = make_user("old@example.com")
    client = logged_in_client(app, user)
    resp = client.post("/profile/edit", data={"name": "", "phone": "", "email": "new@example.com"})
    assert resp.status_code == 302
    db.session.refresh(user)
    assert user.email == "old@example.com" and user.pending_email == "new@example.com"
    assert "We have sent a link to new@example.com" in client.get("/profile").get_data(as_text=True)

    link = link_in(emails_to(app, "new@example.com")[0], "/profile/confirm-email/")
    resp = app.test_client().get(link, follow_redirects=True)  # works from another browser too
    assert "Your email is now new@example.com" in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.email == "new@example.com" and user.pending_email is None
    assert any("was changed" in m.subject for m in emails_to(app, "old@example.com"))

    resp = client.get(link, follow_redirects=True)
    assert "already been used" in resp.get_data(as_text=True)
    assert login(app.test_client(), "new@example.com").status_code == 302


def test_email_change_refused_when_taken_invalid_or_expired(app):
    """Another account's address or a malformed one is refused next to the field; an expired link does nothing."""
    make_user("other@example.com")
    user = make_user("me@example.com")
    client = logged_in_client(app, user)
    for email, error in (("Other@example.com", "already used by another account"), ("not-an-email", "")):
        resp = client.post("/profile/edit", data={"name": "Me", "phone": "", "email": email})
        page = resp.get_data(as_text=True)
        assert resp.status_code == 400 and error in page and f'value="{email}"' in page
    db.session.refresh(user)
    assert user.pending_email is None and user.name == ""

    client.post("/profile/edit", data={"name": "", "phone": "", "email": "later@example.com"})
    link = link_in(emails_to(app, "later@example.com")[0], "/profile/confirm-email/")
    app.config["EMAIL_CHANGE_EXPIRE_HOURS"] = -1  # any age is too old
    assert "expired" in client.get(link, follow_redirects=True).get_data(as_text=True)
    db.session.refresh(user)
    assert user.email == "me@example.com"


def test_change_password_asks_for_the_current_one(app):
    """/profile/change-password is Flask-Security's form in our layout: a wrong current password is refused
    beside the field; the right one changes it and the old password stops working."""
    user = make_user()
    client = logged_in_client(app, user)
    page = client.get("/profile/change-password").get_data(as_text=True)
    assert "Change your password" in page and "navbar" in page
    new = "Changed-Horse-8"
    resp = client.post(
        "/profile/change-password",
        data={"password": "Wrong-Horse-1", "new_password": new, "new_password_confirm": new},
    )
    assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    resp = client.post(
        "/profile/change-password", data={"password": PASSWORD, "new_password": new, "new_password_confirm": new}
    )
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")
    assert any("password has been changed" in m.subject for m in emails_to(app, user.email))
    assert login(app.test_client(), user.email, PASSWORD).status_code == 200
    assert login(app.test_client(), user.email, new).status_code == 302
