"""Login: wrong password, suspended and pending users, remember me, and throttling per account and per address."""

from __future__ import annotations

import time

from evosync import create_app
from evosync.extensions import db
from evosync.models import User, UserStatus, utcnow
from evosync.redis_conn import get_redis
from evosync.services import accounts
from tests.factories import PASSWORD, login, make_user


def page_after(client, resp) -> str:
    return (
        client.get(resp.headers["Location"]).get_data(as_text=True)
        if resp.status_code == 302
        else resp.get_data(as_text=True)
    )


def test_wrong_password_and_unknown_email(app, client):
    """A wrong password or an unknown address gives the same message on the form and no session."""
    user = make_user()
    for email, password in ((user.email, "Wrong-Horse-1"), ("ghost@example.com", PASSWORD)):
        resp = login(client, email, password)
        assert resp.status_code == 200
        assert "Wrong email or password." in resp.get_data(as_text=True)
        assert f'value="{email}"' in resp.get_data(as_text=True)  # input kept
    assert client.get("/profile").status_code == 302


def test_suspended_user_cannot_log_in_and_is_logged_out(app, client):
    """A suspended user with the right password is told the account is suspended; one suspended while logged in
    loses the session on the next request."""
    suspended = make_user(status=UserStatus.SUSPENDED)
    resp = login(client, suspended.email)
    assert resp.status_code == 200
    assert "Your account is suspended" in resp.get_data(as_text=True)

    user = make_user()
    resp = login(client, user.email)
    assert resp.status_code == 302 and client.get("/profile").status_code == 200
    user.status = UserStatus.SUSPENDED
    db.session.commit()
    assert client.get("/profile").status_code == 302


def test_remember_me_sets_a_lasting_cookie(app, client):
    """Ticking "remember me" gives a remember cookie; without it there is none."""
    user = make_user()
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "remember": "y"})
    assert resp.status_code == 302
    assert any(c.startswith("remember_token=") for c in resp.headers.getlist("Set-Cookie"))
    other = app.test_client()
    resp = login(other, user.email)
    assert not any(c.startswith("remember_token=") for c in resp.headers.getlist("Set-Cookie"))


def test_account_lockout_then_unlock_after_the_window(app, client):
    """After LOGIN_MAX_FAILURES wrong passwords even the right one is refused with a clear message, for
    LOGIN_LOCK_SECONDS; then the right password works and the counters are reset."""
    app.config.update(LOGIN_MAX_FAILURES=3, LOGIN_LOCK_SECONDS=2)
    user = make_user()
    for _ in range(3):
        assert "Wrong email or password." in login(client, user.email, "Wrong-Horse-1").get_data(as_text=True)
    db.session.refresh(user)
    assert user.locked_until is not None and user.locked_until > utcnow()

    resp = login(client, user.email, PASSWORD)
    assert resp.status_code == 200
    assert "this account is locked for 1 more minute" in resp.get_data(as_text=True)
    assert client.get("/profile").status_code == 302

    time.sleep(2.1)
    resp = login(client, user.email, PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")
    db.session.refresh(user)
    assert user.failed_login_count == 0 and user.locked_until is None


def test_success_resets_the_failure_count(app, client):
    """Failures below the limit are forgotten after a successful login, so they do not add up over days."""
    app.config.update(LOGIN_MAX_FAILURES=3)
    user = make_user()
    login(client, user.email, "Wrong-Horse-1")
    login(client, user.email, "Wrong-Horse-1")
    db.session.refresh(user)
    assert user.failed_login_count == 2
    assert login(client, user.email).status_code == 302
    db.session.refresh(user)
    assert user.failed_login_count == 0


def test_address_lockout_then_unlock(app, client):
    """Many failures from one address (even for unknown emails) block logins from it for the window, with a
    clear message; the account itself is not locked, and when the window ends logins work again."""
    app.config.update(LOGIN_IP_MAX_FAILURES=3, LOGIN_IP_WINDOW_SECONDS=60)
    user = make_user()
    for n in range(3):
        login(client, f"guess{n}@example.com", "Wrong-Horse-1")
    resp = login(client, user.email)
    assert resp.status_code == 200
    assert "Too many failed logins from your network. Please wait 1 minute" in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.locked_until is None

    key = accounts.ip_failure_key("127.0.0.1")
    assert 0 < get_redis().ttl(key) <= 60
    get_redis().delete(key)  # the window has passed
    assert login(client, user.email).status_code == 302


def test_login_works_when_redis_is_down(app):
    """The address counter lives in Redis; when Redis is unreachable logins still work (fail open)."""
    user = make_user()
    broken = create_app({**app.config, "REDIS_URL": "redis://127.0.0.1:1/0"})
    with broken.app_context():
        client = broken.test_client()
        resp = login(client, user.email, "Wrong-Horse-1")
        assert "Wrong email or password." in resp.get_data(as_text=True)
        resp = login(client, user.email)
        assert resp.status_code == 302
        assert db.session.get(User, user.id).failed_login_count == 0
