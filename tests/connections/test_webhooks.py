"""Evotor partner webhooks: /user/create, /user/verify, /user/token and installation events, by contract."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from evosync.crypto import secret_box
from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, User, UserStatus, WebhookEvent
from tests.factories import PASSWORD, make_user

from .conftest import PARTNER_SECRET

EVOTOR_USER = "01-000000010409029"
WEBHOOKS = ["/user/create", "/user/verify", "/user/token", "/evotor/events/install"]


def error_codes(response) -> list[int]:
    assert response.is_json, response.data[:200]
    return [e["code"] for e in response.get_json()["errors"]]


def conn_of(evotor_user_id: str) -> EvotorConnection | None:
    db.session.expire_all()
    return db.session.execute(sa.select(EvotorConnection).filter_by(evotor_user_id=evotor_user_id)).scalar_one_or_none()


# ------------------------------------------------------------------------------------------- auth and shape


@pytest.mark.parametrize("path", WEBHOOKS)
def test_wrong_secret_is_refused_with_1001(partner, path):
    """A wrong partner secret answers 401 with code 1001 and changes nothing."""
    response = partner(path, {"userId": EVOTOR_USER}, secret="not-the-secret")
    assert response.status_code == 401
    assert error_codes(response) == [1001]
    assert db.session.execute(sa.select(sa.func.count()).select_from(EvotorConnection)).scalar() == 0


@pytest.mark.parametrize("path", WEBHOOKS)
def test_missing_authorization_is_refused_with_1001(partner, path):
    """No Authorization header at all answers 401 with 1001."""
    response = partner(path, {"userId": EVOTOR_USER}, secret=None)
    assert response.status_code == 401
    assert error_codes(response) == [1001]


def test_non_bearer_scheme_is_refused(partner):
    """The secret under another scheme (Basic) is not accepted."""
    response = partner(
        "/user/create", {"userId": EVOTOR_USER}, secret=None, headers={"Authorization": f"Basic {PARTNER_SECRET}"}
    )
    assert response.status_code == 401


@pytest.mark.parametrize("path", WEBHOOKS)
def test_unconfigured_secret_refuses_everything(linked_app, partner, path, caplog):
    """With EVOTOR_WEBHOOK_SECRET unset, even an empty bearer is refused (503, JSON) and it is logged."""
    linked_app.config["EVOTOR_WEBHOOK_SECRET"] = ""
    for secret in ("", PARTNER_SECRET):
        response = partner(path, {"userId": EVOTOR_USER}, secret=secret)
        assert response.status_code == 503
        assert error_codes(response) == [1001]
    assert "EVOTOR_WEBHOOK_SECRET is not set" in caplog.text


@pytest.mark.parametrize("path", WEBHOOKS)
@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_malformed_body_is_2001(partner, path, raw):
    """Bodies that are not a JSON object answer 400 with 2001, as JSON."""
    response = partner(path, data=raw)
    assert response.status_code == 400
    assert error_codes(response) == [2001]


@pytest.mark.parametrize(
    "path, body, code",
    [
        ("/user/create", {}, 2002),
        ("/user/create", {"userId": 42}, 2003),
        ("/user/create", {"userId": ""}, 2003),
        ("/user/create", {"userId": "x" * 65}, 2003),
        ("/user/create", {"userId": EVOTOR_USER, "email": "not-an-email"}, 2003),
        ("/user/create", {"userId": EVOTOR_USER, "email": 5}, 2003),
        ("/user/verify", {"userId": EVOTOR_USER, "login": "a@b.ru"}, 2002),
        ("/user/verify", {"userId": EVOTOR_USER, "password": "x"}, 2002),
        ("/user/verify", {"userId": EVOTOR_USER, "login": ["a"], "password": "x"}, 2003),
        ("/user/verify", {"userId": EVOTOR_USER, "login": "a@b.ru", "password": 1}, 2003),
        ("/user/token", {"userId": EVOTOR_USER}, 2002),
        ("/user/token", {"token": "t"}, 2002),
        ("/user/token", {"userId": EVOTOR_USER, "token": {"a": 1}}, 2003),
        ("/user/token", {"userId": EVOTOR_USER, "token": "   "}, 2003),
        ("/evotor/events/install", {"type": "ApplicationInstalled", "data": {"userId": EVOTOR_USER}}, 2002),
        ("/evotor/events/install", {"id": "e1", "type": "ApplicationInstalled"}, 2002),
        ("/evotor/events/install", {"id": "e1", "type": "ApplicationInstalled", "data": []}, 2003),
        ("/evotor/events/install", {"id": 7, "type": "ApplicationInstalled", "data": {"userId": EVOTOR_USER}}, 2003),
    ],
)
def test_missing_and_mistyped_fields(partner, path, body, code):
    """A missing field answers 2002, a mistyped or invalid one 2003, both with HTTP 400."""
    response = partner(path, body)
    assert response.status_code == 400
    assert error_codes(response) == [code]


@pytest.mark.parametrize("path", WEBHOOKS)
def test_huge_body_is_413_json(linked_app, partner, path):
    """A body over MAX_CONTENT_LENGTH answers 413 with Evotor's error JSON, not an HTML page."""
    big = json.dumps({"userId": EVOTOR_USER, "pad": "x" * (linked_app.config["MAX_CONTENT_LENGTH"] + 10)})
    response = partner(path, data=big.encode())
    assert response.status_code == 413
    assert response.is_json and response.get_json()["errors"]


@pytest.mark.parametrize("path", WEBHOOKS)
def test_wrong_http_method_answers_json(linked_app, path):
    """A GET on a webhook path answers 405 in JSON, never the HTML error page."""
    response = linked_app.test_client().get(path)
    assert response.status_code == 405
    assert response.is_json


# ------------------------------------------------------------------------------------------- /user/create


def test_create_makes_pending_user_linked_with_email(partner):
    """create makes a pending user with the custom-field email, linked to userId, and returns our token."""
    response = partner("/user/create", {"userId": EVOTOR_USER, "email": "Shop@Example.com"})
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["userId"] == EVOTOR_USER
    assert 20 <= len(answer["token"]) <= 128
    conn = conn_of(EVOTOR_USER)
    user = db.session.get(User, conn.user_id)
    assert user.email == "shop@example.com"
    assert user.status == UserStatus.PENDING
    assert conn.source == "webhook"
    assert conn.api_token == answer["token"]
    assert conn.api_token_hash == secret_box.lookup_hash(answer["token"])


def test_create_email_under_custom_fields(partner):
    """An email nested under customFields is picked up too."""
    response = partner("/user/create", {"userId": EVOTOR_USER, "customFields": {"Email": "nested@example.com"}})
    assert response.status_code == 200
    assert db.session.get(User, conn_of(EVOTOR_USER).user_id).email == "nested@example.com"


def test_create_without_email_uses_placeholder(partner):
    """Without an email the account gets the documented evotor-<userId>@evotor.invalid placeholder."""
    response = partner("/user/create", {"userId": EVOTOR_USER})
    assert response.status_code == 200
    user = db.session.get(User, conn_of(EVOTOR_USER).user_id)
    assert user.email == f"evotor-{EVOTOR_USER}@evotor.invalid"


def test_api_token_is_encrypted_at_rest(partner):
    """Our api_token is not stored in clear: the raw column holds ciphertext."""
    token = partner("/user/create", {"userId": EVOTOR_USER})
    raw = db.session.execute(sa.text("SELECT api_token FROM evotor_connections")).scalar()
    assert token.get_json()["token"] not in raw


def test_create_repeat_is_idempotent(partner):
    """A repeated create answers the same token and creates no second user."""
    first = partner("/user/create", {"userId": EVOTOR_USER, "email": "shop@example.com"}).get_json()
    second = partner("/user/create", {"userId": EVOTOR_USER, "email": "shop@example.com"})
    third = partner("/user/create", {"userId": EVOTOR_USER})
    assert second.status_code == third.status_code == 200
    assert second.get_json() == third.get_json() == first
    assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == 1


def test_create_conflicts(partner):
    """An existing email answers 2005; the same userId with another email answers 2004; both 409."""
    make_user(email="taken@example.com")
    taken = partner("/user/create", {"userId": EVOTOR_USER, "email": "taken@example.com"})
    assert taken.status_code == 409 and error_codes(taken) == [2005]
    assert partner("/user/create", {"userId": EVOTOR_USER, "email": "a@example.com"}).status_code == 200
    other = partner("/user/create", {"userId": EVOTOR_USER, "email": "b@example.com"})
    assert other.status_code == 409 and error_codes(other) == [2004]


# ------------------------------------------------------------------------------------------- /user/verify


def test_verify_links_existing_account(partner):
    """verify with the right email and password links the account and returns its token; repeats agree."""
    user = make_user(email="owner@example.com")
    response = partner("/user/verify", {"userId": EVOTOR_USER, "login": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["token"]
    conn = conn_of(EVOTOR_USER)
    assert conn.user_id == user.id and conn.api_token == token
    again = partner("/user/verify", {"userId": EVOTOR_USER, "username": "OWNER@example.com", "password": PASSWORD})
    assert again.status_code == 200 and again.get_json()["token"] == token


@pytest.mark.parametrize("login, password", [("owner@example.com", "wrong"), ("nobody@example.com", PASSWORD)])
def test_verify_wrong_credentials_is_1006(partner, login, password):
    """A wrong password or an unknown login answers 401 with 1006 and links nothing."""
    make_user(email="owner@example.com")
    response = partner("/user/verify", {"userId": EVOTOR_USER, "login": login, "password": password})
    assert response.status_code == 401 and error_codes(response) == [1006]
    assert conn_of(EVOTOR_USER) is None


def test_verify_suspended_account_is_refused(partner):
    """A suspended account cannot be linked even with its right password."""
    make_user(email="owner@example.com", status=UserStatus.SUSPENDED)
    response = partner("/user/verify", {"userId": EVOTOR_USER, "login": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 401


def test_verify_conflicts(partner):
    """userId linked to another account -> 2004; an account linked to another Evotor user -> 2005."""
    make_user(email="one@example.com")
    make_user(email="two@example.com")
    assert (
        partner("/user/verify", {"userId": EVOTOR_USER, "login": "one@example.com", "password": PASSWORD}).status_code
        == 200
    )
    linked = partner("/user/verify", {"userId": EVOTOR_USER, "login": "two@example.com", "password": PASSWORD})
    assert linked.status_code == 409 and error_codes(linked) == [2004]
    other = partner("/user/verify", {"userId": "01-999", "login": "one@example.com", "password": PASSWORD})
    assert other.status_code == 409 and error_codes(other) == [2005]


# ------------------------------------------------------------------------------------------- /user/token


def test_token_makes_connection_live(partner, sandbox):
    """The cloud token of a linked user is stored encrypted and the connection becomes connected by Evotor."""
    sandbox.evotor.add_account("evotor-cloud-token-123")
    partner("/user/create", {"userId": EVOTOR_USER, "email": "shop@example.com"})
    response = partner("/user/token", {"userId": EVOTOR_USER, "token": "evotor-cloud-token-123"})
    assert response.status_code == 200 and response.is_json
    conn = conn_of(EVOTOR_USER)
    assert conn.access_token == "evotor-cloud-token-123"
    assert conn.state == ConnectionState.CONNECTED and conn.source == "webhook"
    raw = db.session.execute(sa.text("SELECT access_token FROM evotor_connections")).scalar()
    assert "evotor-cloud-token-123" not in raw
    repeat = partner("/user/token", {"userId": EVOTOR_USER, "token": "evotor-cloud-token-123"})
    assert repeat.status_code == 200
    assert conn_of(EVOTOR_USER).access_token == "evotor-cloud-token-123"


def test_token_for_unknown_user_is_refused(partner):
    """A token for a userId nobody linked answers 400 (2003) and stores nothing."""
    response = partner("/user/token", {"userId": EVOTOR_USER, "token": "t"})
    assert response.status_code == 400 and error_codes(response) == [2003]
    assert conn_of(EVOTOR_USER) is None


def test_token_never_logged(partner, caplog):
    """Neither the cloud token nor our api_token appears in the logs."""
    caplog.set_level("DEBUG")
    ours = partner("/user/create", {"userId": EVOTOR_USER}).get_json()["token"]
    partner("/user/token", {"userId": EVOTOR_USER, "token": "cloud-token-secret-987"})
    assert "cloud-token-secret-987" not in caplog.text
    assert ours not in caplog.text
    assert PARTNER_SECRET not in caplog.text


# ------------------------------------------------------------------------------------------- installation events


def install_event(event_id: str, kind: str, user_id: str = EVOTOR_USER) -> dict:
    return {
        "id": event_id,
        "timestamp": 1700000000000,
        "version": 2,
        "type": kind,
        "data": {"productId": "app-1", "userId": user_id},
    }


def test_uninstall_and_install_update_the_connection(partner):
    """Uninstall drops the cloud token (not connected, app removed); install marks the app installed."""
    partner("/user/create", {"userId": EVOTOR_USER})
    partner("/user/token", {"userId": EVOTOR_USER, "token": "cloud"})
    response = partner("/evotor/events/install", install_event("ev-1", "ApplicationUninstalled"))
    assert response.status_code == 200 and response.get_json() == {"status": "applied"}
    conn = conn_of(EVOTOR_USER)
    assert conn.app_installed is False and conn.state == ConnectionState.NOT_CONNECTED and not conn.access_token
    assert partner("/evotor/events/install", install_event("ev-2", "ApplicationInstalled")).status_code == 200
    assert conn_of(EVOTOR_USER).app_installed is True


def test_installation_event_is_idempotent_by_id(partner):
    """The same event id delivered twice is applied once: a later token survives a replayed uninstall."""
    partner("/user/create", {"userId": EVOTOR_USER})
    assert partner("/evotor/events/install", install_event("ev-1", "ApplicationUninstalled")).get_json() == {
        "status": "applied"
    }
    partner("/user/token", {"userId": EVOTOR_USER, "token": "new-cloud"})
    replay = partner("/evotor/events/install", install_event("ev-1", "ApplicationUninstalled"))
    assert replay.status_code == 200 and replay.get_json() == {"status": "duplicate"}
    assert conn_of(EVOTOR_USER).access_token == "new-cloud"
    assert db.session.execute(sa.select(sa.func.count()).select_from(WebhookEvent)).scalar() == 1


def test_installation_event_of_unknown_user_or_type_is_acknowledged(partner):
    """Events nobody can apply answer 200 (so Evotor stops retrying) and say why."""
    unknown = partner("/evotor/events/install", install_event("ev-9", "ApplicationInstalled", "01-404"))
    assert unknown.get_json() == {"status": "unknown_user"}
    other = partner("/evotor/events/install", install_event("ev-10", "SomethingElse"))
    assert other.get_json() == {"status": "ignored"}


def test_installation_event_of_another_app_is_ignored(linked_app, partner):
    """With EVOTOR_APP_ID set, an event for another product changes nothing."""
    linked_app.config["EVOTOR_APP_ID"] = "our-app"
    partner("/user/create", {"userId": EVOTOR_USER})
    partner("/user/token", {"userId": EVOTOR_USER, "token": "cloud"})
    response = partner("/evotor/events/install", install_event("ev-1", "ApplicationUninstalled"))
    assert response.get_json() == {"status": "ignored"}
    assert conn_of(EVOTOR_USER).access_token == "cloud"
