"""Admin invites: a hashed single-use token, expiry, and the page that finishes the account."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import Invite, User, UserStatus, utcnow
from evosync.services import accounts
from tests.factories import emails_to, login, make_user

NEW_PASSWORD = "Invited-Horse-3"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def accept(client, link: str, name: str = "Olga", password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(link, data={"name": name, "password": password, "password_confirm": confirm or password})


def test_invite_is_emailed_and_completes_the_account(app, client):
    """create_invite stores only a hash and emails the link; the page sets name and password, the user is
    active, confirmed and logged in; the link then stops working."""
    admin = make_user("boss@example.com", roles=("admin",))
    invite, url = accounts.create_invite("Olga@Example.com", invited_by=admin)
    token = url.split("token=")[1]
    assert url.startswith(app.config["BASE_URL"] + "/invite?token=")
    assert invite.token_hash != token and token not in invite.token_hash
    assert invite.expires_at == pytest.approx(utcnow() + dt.timedelta(hours=48), abs=dt.timedelta(seconds=5))
    [message] = emails_to(app, "Olga@example.com")
    assert (
        url in message.body and url.replace("&", "&amp;") in dict((m, b) for b, m in message.alternatives)["text/html"]
    )

    link = path_of(url)
    assert "Choose your name and a password" in client.get(link).get_data(as_text=True)
    resp = accept(client, link)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")
    assert "Olga" in client.get("/profile").get_data(as_text=True)

    user = db.session.scalar(sa.select(User).where(User.email == "Olga@example.com"))
    assert user.status == UserStatus.ACTIVE and user.confirmed_at is not None and user.name == "Olga"
    assert user.role_names == {"user"}
    db.session.refresh(invite)
    assert invite.used_at is not None and invite.user_id == user.id and invite.invited_by_id == admin.id

    client.get("/logout")
    resp = client.get(link)
    assert resp.status_code == 410 and "already been used" in resp.get_data(as_text=True)
    assert accept(client, link, password="Another-Horse-4").status_code == 410
    assert login(client, "olga@example.com", NEW_PASSWORD).status_code == 302


def test_expired_and_unknown_invites(app, client):
    """An invite past INVITE_EXPIRE_HOURS and a made-up token are refused with plain words; nothing changes."""
    _, url = accounts.create_invite("late@example.com", invited_by=None, send=False)
    invite = db.session.scalar(sa.select(Invite))
    invite.expires_at = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    resp = accept(client, path_of(url))
    assert resp.status_code == 410 and "This invitation has expired" in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(User).where(User.email == "late@example.com")).status == UserStatus.PENDING

    resp = client.get("/invite?token=made-up")
    assert resp.status_code == 404 and "not valid" in resp.get_data(as_text=True)
    assert client.get("/invite").status_code == 404


def test_invite_rules(app, client):
    """Existing accounts cannot be invited; a new invite replaces an unused earlier one; form errors are shown
    next to the fields with the name kept."""
    make_user("member@example.com")
    with pytest.raises(accounts.AccountError, match="already has an account"):
        accounts.create_invite("member@example.com", invited_by=None)

    _, first = accounts.create_invite("twice@example.com", invited_by=None, send=False)
    _, second = accounts.create_invite("twice@example.com", invited_by=None, send=False)
    assert client.get(path_of(first)).status_code == 404
    resp = accept(client, path_of(second), name="Ivan", password=NEW_PASSWORD, confirm="Something-Else-1")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'value="Ivan"' in page and "The two passwords are different." in page
    resp = accept(client, path_of(second), name="Ivan", password="short")
    assert "invalid-feedback" in resp.get_data(as_text=True)
    assert accept(client, path_of(second), name="Ivan").status_code == 302
