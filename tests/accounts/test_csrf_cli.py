"""CSRF on the account forms, and the `flask users` commands."""

from __future__ import annotations

import re

from evosync.models import UserStatus
from evosync.services import accounts
from tests.factories import PASSWORD, logged_in_client, login, make_user


def test_forms_without_csrf_token_are_refused(app):
    """With CSRF on, a POST without the token is a 400 on every account form, logged in or not."""
    user = make_user()
    member = logged_in_client(app, user)
    app.config["WTF_CSRF_ENABLED"] = True
    data = {"email": user.email, "password": PASSWORD, "name": "X", "phone": ""}
    for path in ("/login", "/register", "/forgot-password", "/resend-confirm", "/invite?token=x"):
        assert app.test_client().post(path, data=data).status_code == 400, path
    for path in ("/profile/edit", "/profile/delete", "/profile/change-password"):
        assert member.post(path, data=data).status_code == 400, path
    assert member.get("/profile").status_code == 200  # still logged in, account intact


def test_login_with_csrf_token_from_the_page(app, client):
    """The login page carries a token that the POST accepts (so the 400 above is about the token)."""
    user = make_user()
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


def test_cli_creates_the_first_system_user(app, runner, monkeypatch):
    """`users create` works with --password, EVOSYNC_PASSWORD or stdin; the user is active, confirmed, has the
    role's permissions and can log in; duplicates and unknown roles fail with a message."""
    result = runner.invoke(args=["users", "create", "root@example.com", "--password", PASSWORD, "--role", "system"])
    assert result.exit_code == 0, result.output
    user = accounts.find_user_by_email("root@example.com")
    assert user.status == UserStatus.ACTIVE and user.confirmed_at is not None
    assert user.has_permission("roles.manage")
    assert login(app.test_client(), "root@example.com").status_code == 302

    monkeypatch.setenv("EVOSYNC_PASSWORD", PASSWORD)
    assert runner.invoke(args=["users", "create", "env@example.com"]).exit_code == 0
    monkeypatch.delenv("EVOSYNC_PASSWORD")
    result = runner.invoke(args=["users", "create", "stdin@example.com", "--role", "admin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert accounts.find_user_by_email("stdin@example.com").role_names == {"admin"}

    result = runner.invoke(args=["users", "create", "ROOT@example.com", "--password", PASSWORD])
    assert result.exit_code != 0 and "already has an account" in result.output
    result = runner.invoke(args=["users", "create", "x@example.com", "--password", PASSWORD, "--role", "boss"])
    assert result.exit_code != 0 and "There is no role boss" in result.output
    result = runner.invoke(args=["users", "create", "y@example.com", "--password", "short"])
    assert result.exit_code != 0 and accounts.find_user_by_email("y@example.com") is None


def test_cli_set_role_and_list(app, runner):
    """`users set-role` replaces the roles; `users list` shows every user with roles and status."""
    make_user("a@example.com")
    make_user("b@example.com", status=UserStatus.SUSPENDED)
    assert runner.invoke(args=["users", "set-role", "a@example.com", "admin"]).exit_code == 0
    assert accounts.find_user_by_email("a@example.com").role_names == {"admin"}
    assert runner.invoke(args=["users", "set-role", "nobody@example.com", "admin"]).exit_code != 0
    output = runner.invoke(args=["users", "list"]).output
    assert re.search(r"a@example\.com\tadmin\tactive", output)
    assert re.search(r"b@example\.com\tuser\tsuspended", output)


def test_users_create_admin_flag(runner):
    """`flask users create --admin EMAIL` (the README's compose command) makes an active admin."""
    from evosync.services.accounts import find_user_by_email

    result = runner.invoke(args=["users", "create", "--admin", "ops@example.com", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    user = find_user_by_email("ops@example.com")
    assert user.role_names == {"admin"} and user.status == "active" and user.confirmed_at is not None
    clash = runner.invoke(
        args=["users", "create", "--admin", "x@example.com", "--role", "system", "--password", PASSWORD]
    )
    assert clash.exit_code != 0 and "disagree" in clash.output
