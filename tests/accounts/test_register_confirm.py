"""Registration, email confirmation and resending it: pending until confirmed, no account enumeration."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import User, UserStatus
from tests.factories import PASSWORD, emails_to, link_in, login, make_user, sent_emails


def register(client, email: str, password: str = PASSWORD, confirm: str | None = None):
    return client.post(
        "/register",
        data={"email": email, "password": password, "password_confirm": confirm if confirm is not None else password},
    )


def user_by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_register_confirm_then_login(app, client):
    """A new merchant is pending, cannot log in (told to confirm, with the resend page), and after the emailed
    link is active and can log in; the email has a text and an HTML part, both with the link."""
    resp = register(client, "new@example.com")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    user = user_by_email("new@example.com")
    assert user.status == UserStatus.PENDING and user.confirmed_at is None

    [message] = emails_to(app, "new@example.com")
    link = link_in(message, "/confirm-email/")
    html = dict((mime, body) for body, mime in message.alternatives)["text/html"]
    assert link.split("/")[-1] in html

    resp = login(client, "new@example.com")
    assert resp.status_code == 302 and "/resend-confirm?email=new%40example.com" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Please confirm your email address first" in page
    assert 'value="new@example.com"' in page  # the resend form is filled in
    assert client.get("/profile").status_code == 302  # not logged in

    resp = client.get(link, follow_redirects=True)
    assert "your email is confirmed" in resp.get_data(as_text=True)
    user = user_by_email("new@example.com")
    assert user.status == UserStatus.ACTIVE and user.confirmed_at is not None

    resp = login(client, "new@example.com")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/profile")
    assert client.get("/profile").status_code == 200


def test_confirmation_link_reused_and_expired(app, client):
    """A used confirmation link changes nothing and says so; an expired one is refused and offers a new link."""
    register(client, "twice@example.com")
    link = link_in(emails_to(app, "twice@example.com")[0], "/confirm-email/")

    app.config["SECURITY_CONFIRM_EMAIL_WITHIN"] = dt.timedelta(seconds=-1)
    resp = client.get(link, follow_redirects=True)
    assert "This confirmation link has expired" in resp.get_data(as_text=True)
    assert resp.request.path == "/resend-confirm"
    assert user_by_email("twice@example.com").status == UserStatus.PENDING

    app.config["SECURITY_CONFIRM_EMAIL_WITHIN"] = dt.timedelta(days=3)
    client.get(link)
    assert user_by_email("twice@example.com").status == UserStatus.ACTIVE
    resp = client.get(link, follow_redirects=True)
    assert "already confirmed" in resp.get_data(as_text=True)

    resp = client.get("/confirm-email/not-a-token", follow_redirects=True)
    assert "This confirmation link is not valid" in resp.get_data(as_text=True)


def test_confirming_does_not_reactivate_a_suspended_user(app, client):
    """A user suspended before clicking the link stays suspended."""
    register(client, "late@example.com")
    link = link_in(emails_to(app, "late@example.com")[0], "/confirm-email/")
    user = user_by_email("late@example.com")
    user.status = UserStatus.SUSPENDED
    db.session.commit()
    client.get(link)
    assert user_by_email("late@example.com").status == UserStatus.SUSPENDED


def test_duplicate_email_and_bad_input_show_errors_beside_fields(app, client):
    """Registering a taken address (any case) fails next to the email field; mismatched or short passwords fail
    next to the password fields; the typed email is kept; no user or email is created."""
    make_user("taken@example.com")
    resp = register(client, "Taken@Example.com")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "already has an account" in page and "is-invalid" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1

    resp = register(client, "fresh@example.com", password=PASSWORD, confirm="Other-Horse-9")
    page = resp.get_data(as_text=True)
    assert 'value="fresh@example.com"' in page and "invalid-feedback" in page
    resp = register(client, "fresh@example.com", password="short")
    assert "invalid-feedback" in resp.get_data(as_text=True)
    assert user_by_email("fresh@example.com") is None
    assert sent_emails(app) == []


def test_resend_confirmation_same_answer_for_everyone(app, client):
    """/resend-confirm answers alike for a pending, an active and an unknown address; only the pending one
    gets an email, and its new link works."""
    make_user("waiting@example.com", status=UserStatus.PENDING)
    make_user("done@example.com")
    answers = []
    for email in ("waiting@example.com", "done@example.com", "nobody@example.com"):
        resp = client.post("/resend-confirm", data={"email": email}, follow_redirects=True)
        assert resp.status_code == 200
        answers.append(resp.get_data(as_text=True).replace(email, "EMAIL"))
    assert answers[0] == answers[1] == answers[2]
    assert [m.to for m in sent_emails(app)] == [["waiting@example.com"]]
    client.get(link_in(sent_emails(app)[0], "/confirm-email/"))
    assert user_by_email("waiting@example.com").status == UserStatus.ACTIVE

    resp = client.post("/resend-confirm", data={"email": ""})
    assert "invalid-feedback" in resp.get_data(as_text=True)
    # Flask-Security's own form (which would tell) is not reachable.
    assert client.get("/confirm-email").headers["Location"].endswith("/resend-confirm")
