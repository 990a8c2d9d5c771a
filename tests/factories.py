"""Test data built the way the app builds it: users through the Flask-Security datastore, logins through the client."""

from __future__ import annotations

import itertools

from evosync.extensions import db
from evosync.models import UserStatus, utcnow
from evosync.models.datastore import user_datastore

PASSWORD = "Correct-Horse-9"
_counter = itertools.count(1)


def make_user(
    email: str | None = None,
    password: str = PASSWORD,
    status: str = UserStatus.ACTIVE,
    roles: tuple[str, ...] = ("user",),
    **fields,
):
    """A user with the given roles; active users are confirmed, as if they clicked the email link."""
    email = email or f"merchant{next(_counter)}@example.com"
    user = user_datastore.create_user(
        email=email,
        password=password and _hash(password),
        roles=[user_datastore.find_role(r) for r in roles],
        **fields,
    )
    user.status = status
    if status in (UserStatus.ACTIVE, UserStatus.SUSPENDED):
        user.confirmed_at = utcnow()
    db.session.commit()
    return user


def _hash(password: str) -> str:
    from flask_security.utils import hash_password

    return hash_password(password)


def login(client, email: str, password: str = PASSWORD):
    """Log in through the real login form; returns the response."""
    return client.post("/login", data={"email": email, "password": password}, follow_redirects=False)


def logged_in_client(app, user, password: str = PASSWORD):
    client = app.test_client()
    resp = login(client, user.email, password)
    assert resp.status_code in (302, 303), resp.data[:500]
    return client


def sent_emails(app) -> list:
    """Messages Flask-Mailman's locmem backend collected (the tests' MAIL_BACKEND), oldest first."""
    return list(getattr(app.extensions["mailman"], "outbox", []))


def emails_to(app, address: str) -> list:
    return [m for m in sent_emails(app) if address.lower() in (a.lower() for a in m.to)]


def link_in(message, path_prefix: str) -> str:
    """The path (and query) of the first link in the email's text part whose path starts with path_prefix."""
    import re
    from urllib.parse import urlsplit

    for url in re.findall(r"https?://\S+", message.body):
        parts = urlsplit(url)
        if parts.path.startswith(path_prefix):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    raise AssertionError(f"no link to {path_prefix} in: {message.body}")
