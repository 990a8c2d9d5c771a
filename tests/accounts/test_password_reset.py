"""Forgot password and reset: same answer for every address, single-use expiring links, lock cleared."""

from __future__ import annotations

import datetime as dt

from evosync.extensions import db
from evosync.models import UserStatus, utcnow
from tests.factories import PASSWORD, emails_to, link_in, login, make_user, sent_emails

NEW_PASSWORD = "Brand-New-Horse-7"


def ask_reset(client, email: str):
    return client.post("/forgot-password", data={"email": email}, follow_redirects=True)


def test_forgot_password_answers_alike_and_mails_only_real_accounts(app, client):
    """Known, unknown and suspended addresses get the same page; only the active account gets a link."""
    make_user("known@example.com")
    make_user("frozen@example.com", status=UserStatus.SUSPENDED)
    pages = [
        ask_reset(client, email).get_data(as_text=True).replace(email, "EMAIL")
        for email in ("known@example.com", "unknown@example.com", "frozen@example.com")
    ]
    assert pages[0] == pages[1] == pages[2]
    assert "we have emailed it a link" in pages[0]
    assert [m.to for m in sent_emails(app)] == [["known@example.com"]]
    # Flask-Security's own request form (which would tell) only redirects to ours.
    assert (
        client.post("/reset-password", data={"email": "unknown@example.com"})
        .headers["Location"]
        .endswith("/forgot-password")
    )


def test_reset_sets_the_new_password_once(app, client):
    """The emailed link sets a new password (the old one stops working, a notice is emailed, a lockout is
    lifted); using the same link again is refused."""
    user = make_user("reset@example.com")
    user.locked_until = utcnow() + dt.timedelta(hours=1)
    db.session.commit()
    ask_reset(client, user.email)
    link = link_in(emails_to(app, user.email)[-1], "/reset-password/")

    assert "Set a new password" in client.get(link).get_data(as_text=True)
    resp = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    assert any("has been reset" in m.subject for m in emails_to(app, user.email))

    assert "Wrong email or password." in login(client, user.email, PASSWORD).get_data(as_text=True)
    assert login(client, user.email, NEW_PASSWORD).status_code == 302
    client.get("/logout")

    resp = client.post(
        link, data={"password": "Third-Horse-55", "password_confirm": "Third-Horse-55"}, follow_redirects=True
    )
    assert "not valid or has already been used" in resp.get_data(as_text=True)
    assert resp.request.path == "/forgot-password"
    assert login(client, user.email, NEW_PASSWORD).status_code == 302


def test_expired_and_forged_reset_links(app, client):
    """An expired link and a made-up one are refused with a way to ask for a new link; the password stays."""
    user = make_user("slow@example.com")
    ask_reset(client, user.email)
    link = link_in(emails_to(app, user.email)[-1], "/reset-password/")
    app.config["SECURITY_RESET_PASSWORD_WITHIN"] = dt.timedelta(seconds=-1)
    resp = client.get(link, follow_redirects=True)
    assert "This password link has expired" in resp.get_data(as_text=True)
    resp = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}, follow_redirects=True)
    assert "This password link has expired" in resp.get_data(as_text=True)
    app.config["SECURITY_RESET_PASSWORD_WITHIN"] = dt.timedelta(hours=2)
    resp = client.get("/reset-password/forged-token", follow_redirects=True)
    assert "not valid or has already been used" in resp.get_data(as_text=True)
    assert login(client, user.email, PASSWORD).status_code == 302


def test_reset_form_errors_are_shown_beside_the_fields(app, client):
    """Different passwords in the two boxes: the form comes back with the error next to the field."""
    user = make_user()
    ask_reset(client, user.email)
    link = link_in(emails_to(app, user.email)[-1], "/reset-password/")
    resp = client.post(link, data={"password": NEW_PASSWORD, "password_confirm": "Not-The-Same-1"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "invalid-feedback" in page and "is-invalid" in page
    assert login(client, user.email, PASSWORD).status_code == 302
