"""The VK ID emulator over real HTTP: authorize page, PKCE code exchange, expiry and refresh rotation."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from evosync.sandbox.vkid import s256

GID = 101
ADMIN = "tok-admin"
CLIENT = "51234567"
REDIRECT = "http://127.0.0.1:5000/connections/vk/callback"


@pytest.fixture
def sb(sandbox):
    """A VK user administering community 101, known to VK ID; the rate limit is off."""
    sandbox.vk.add_community(GID, "Тестовый магазин", admin_tokens=(ADMIN,))
    sandbox.vk.rate_limit_enabled = False
    return sandbox


def authorize_params(verifier: str, **overrides) -> dict:
    params = {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "state": secrets.token_urlsafe(16),
        "scope": "market groups",
        "code_challenge": s256(verifier),
        "code_challenge_method": "s256",
    }
    params.update(overrides)
    return params


def decide(sb, params: dict, decision: str = "allow", user_id: int | str | None = None) -> dict:
    """Press a button of the consent page (the form posts back to /authorize); returns the redirect query."""
    form = {**params, "decision": decision}
    if user_id is not None:
        form["user_id"] = str(user_id)
    response = requests.post(f"{sb.vkid_url}/authorize", data=form, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def token_request(sb, **params) -> requests.Response:
    return requests.post(f"{sb.vkid_url}/oauth2/auth", data=params, timeout=5)


def login(sb) -> tuple[dict, dict]:
    """The whole good path; returns (redirect query, token answer)."""
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(verifier)
    back = decide(sb, params, user_id=sb.vk.token_user(ADMIN))
    answer = token_request(
        sb,
        grant_type="authorization_code",
        client_id=CLIENT,
        code=back["code"],
        code_verifier=verifier,
        device_id=back["device_id"],
        redirect_uri=REDIRECT,
        state=back["state"],
    )
    assert answer.status_code == 200, answer.text
    return back, answer.json()


def vk_call(sb, token: str, method: str, **params) -> dict:
    data = {"access_token": token, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    return requests.post(f"{sb.vk_url}/{method}", data=data, timeout=5).json()


def test_authorize_page_offers_allow_and_deny(sb):
    """GET /authorize shows an HTML form with Allow and Deny and the known users, login_as preselected."""
    sb.vk.add_user("second")
    admin_id, second_id = sb.vk.token_user(ADMIN), sb.vk.token_user("second")
    params = authorize_params(secrets.token_urlsafe(48))
    page = requests.get(f"{sb.vkid_url}/authorize", params={**params, "login_as": second_id}, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'value="allow"' in page.text and 'value="deny"' in page.text
    assert f'value="{admin_id}"' in page.text and f'<option value="{second_id}" selected>' in page.text


@pytest.mark.parametrize(
    "override",
    [
        {"response_type": "token"},
        {"code_challenge_method": "plain"},
        {"code_challenge": ""},
        {"state": ""},
        {"redirect_uri": "not-a-url"},
        {"client_id": ""},
    ],
)
def test_authorize_refuses_bad_params(sb, override):
    """The authorize page refuses a wrong response_type, non-S256 PKCE, missing state, bad redirect_uri."""
    params = authorize_params(secrets.token_urlsafe(48), **override)
    assert requests.get(f"{sb.vkid_url}/authorize", params=params, timeout=5).status_code == 400


def test_good_path_gives_a_working_admin_token(sb):
    """Allow -> code+state+device_id; the exchange gives tokens; the access token administers the community."""
    back, tokens = login(sb)
    assert back["code"] and back["device_id"] and back["state"]
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["user_id"] == sb.vk.token_user(ADMIN) and tokens["state"] == back["state"]
    assert tokens["scope"] == "market groups" and tokens["id_token"].count(".") == 2
    assert tokens["refresh_token"] != tokens["access_token"]
    group = vk_call(sb, tokens["access_token"], "groups.getById", group_id=GID)["response"]["groups"][0]
    assert group["is_admin"] == 1
    added = vk_call(sb, tokens["access_token"], "market.addAlbum", owner_id=-GID, title="Кофе")
    assert added["response"]["market_album_id"] == 1
    assert sb.vk.stats["token_exchanges"] == 1


def test_deny_redirects_with_access_denied(sb):
    """Deny -> redirect_uri?error=access_denied&state=..., and no code."""
    params = authorize_params(secrets.token_urlsafe(48))
    back = decide(sb, params, decision="deny")
    assert back == {"error": "access_denied", "state": params["state"]}


def test_allow_as_a_new_user(sb):
    """Choosing "a new VK user" creates one; its token works but administers nothing."""
    verifier = secrets.token_urlsafe(48)
    back = decide(sb, authorize_params(verifier), user_id="new")
    tokens = token_request(
        sb,
        grant_type="authorization_code",
        client_id=CLIENT,
        code=back["code"],
        code_verifier=verifier,
        device_id=back["device_id"],
        redirect_uri=REDIRECT,
    ).json()
    assert tokens["user_id"] != sb.vk.token_user(ADMIN)
    assert vk_call(sb, tokens["access_token"], "market.addAlbum", owner_id=-GID, title="x")["error"]["error_code"] == 15


def _exchange(sb, back: dict, verifier: str, **overrides) -> requests.Response:
    params = {
        "grant_type": "authorization_code",
        "client_id": CLIENT,
        "code": back["code"],
        "code_verifier": verifier,
        "device_id": back["device_id"],
        "redirect_uri": REDIRECT,
    }
    params.update(overrides)
    return token_request(sb, **params)


@pytest.mark.parametrize(
    "override",
    [
        {"code_verifier": secrets.token_urlsafe(48)},
        {"code_verifier": "short"},
        {"redirect_uri": "http://127.0.0.1:5000/other"},
        {"device_id": "another-device"},
        {"client_id": "999"},
        {"code": "made-up"},
    ],
    ids=["wrong-verifier", "short-verifier", "redirect", "device", "client", "code"],
)
def test_exchange_refuses_mismatches(sb, override):
    """A wrong verifier, redirect_uri, device_id, client_id or code is invalid_grant (HTTP 400)."""
    verifier = secrets.token_urlsafe(48)
    back = decide(sb, authorize_params(verifier))
    answer = _exchange(sb, back, verifier, **override)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant" and answer.json()["error_description"]
    assert _exchange(sb, back, verifier).status_code == 200  # a failed attempt leaves the code usable


def test_code_is_single_use(sb):
    """A code exchanged once is refused the second time."""
    verifier = secrets.token_urlsafe(48)
    back = decide(sb, authorize_params(verifier))
    assert _exchange(sb, back, verifier).status_code == 200
    again = _exchange(sb, back, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_code_expires(sb):
    """A code older than code_ttl is refused (ttl 0 here; expire_code does the same for one code)."""
    verifier = secrets.token_urlsafe(48)
    sb.vk.vkid.code_ttl = 0
    back = decide(sb, authorize_params(verifier))
    assert _exchange(sb, back, verifier).json()["error"] == "invalid_grant"
    sb.vk.vkid.code_ttl = 60
    back = decide(sb, authorize_params(verifier))
    sb.vk.vkid.expire_code(back["code"])
    assert _exchange(sb, back, verifier).json()["error_description"] == "code has expired"


def test_refresh_rotates_and_refuses_the_old_token(sb):
    """Refresh gives a new access AND refresh token; the old refresh token is refused afterwards."""
    back, first = login(sb)
    refreshed = token_request(
        sb,
        grant_type="refresh_token",
        client_id=CLIENT,
        refresh_token=first["refresh_token"],
        device_id=back["device_id"],
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["user_id"] == first["user_id"]
    assert "response" in vk_call(sb, second["access_token"], "groups.getById", group_id=GID)
    reused = token_request(
        sb,
        grant_type="refresh_token",
        client_id=CLIENT,
        refresh_token=first["refresh_token"],
        device_id=back["device_id"],
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    third = token_request(
        sb,
        grant_type="refresh_token",
        client_id=CLIENT,
        refresh_token=second["refresh_token"],
        device_id=back["device_id"],
    )
    assert third.status_code == 200
    assert sb.vk.stats["token_refreshes"] == 2


def test_refresh_needs_the_same_device_and_an_unrevoked_token(sb):
    """A refresh with another device_id or a revoked refresh token is invalid_grant."""
    back, tokens = login(sb)
    wrong_device = token_request(
        sb, grant_type="refresh_token", client_id=CLIENT, refresh_token=tokens["refresh_token"], device_id="x"
    )
    assert wrong_device.json()["error"] == "invalid_grant"
    sb.vk.vkid.revoke_refresh_token(tokens["refresh_token"])
    revoked = token_request(
        sb,
        grant_type="refresh_token",
        client_id=CLIENT,
        refresh_token=tokens["refresh_token"],
        device_id=back["device_id"],
    )
    assert revoked.json()["error"] == "invalid_grant"


def test_access_tokens_expire_into_error_5(sb):
    """Issued access tokens answer error 5 once expired: by a 0 s ttl or by expire_access_token."""
    _, tokens = login(sb)
    sb.vk.vkid.expire_access_token(tokens["access_token"])
    assert vk_call(sb, tokens["access_token"], "groups.getById", group_id=GID)["error"]["error_code"] == 5
    sb.vk.vkid.access_token_ttl = 0
    _, short = login(sb)
    assert short["expires_in"] == 0
    assert vk_call(sb, short["access_token"], "groups.getById", group_id=GID)["error"]["error_code"] == 5


def test_registered_clients_are_enforced(sb):
    """Once a client is registered, other client ids and unregistered redirect URIs are refused."""
    sb.vk.vkid.register_client(CLIENT, redirect_uris=[REDIRECT])
    verifier = secrets.token_urlsafe(48)
    assert requests.get(f"{sb.vkid_url}/authorize", params=authorize_params(verifier), timeout=5).status_code == 200
    other_client = authorize_params(verifier, client_id="777")
    assert requests.get(f"{sb.vkid_url}/authorize", params=other_client, timeout=5).status_code == 400
    other_uri = authorize_params(verifier, redirect_uri="http://evil.example/cb")
    assert requests.get(f"{sb.vkid_url}/authorize", params=other_uri, timeout=5).status_code == 400


def test_unknown_grant_type(sb):
    """An unsupported grant_type is refused with unsupported_grant_type."""
    answer = token_request(sb, grant_type="password", client_id=CLIENT)
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"
