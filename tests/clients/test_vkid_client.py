"""VkIdClient against the VK ID emulator: PKCE, the authorize page, code exchange and refresh rotation."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from evosync.clients.errors import VkIdError
from evosync.clients.vk import VkClient
from evosync.clients.vkid import VkIdClient, new_pkce
from tests.services import free_port

CLIENT_ID = "51234567"
REDIRECT = "http://127.0.0.1:5000/connections/vk/callback"


def _log_in(sandbox, client: VkIdClient, challenge: str, state: str = "st-1") -> dict[str, str]:
    """Walk the emulator's consent page as a browser would: open authorize_url, press Allow."""
    url = client.authorize_url(REDIRECT, state, challenge)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and 'id="allow"' in page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    answer = requests.post(
        url.split("?")[0], data={**fields, "decision": "allow", "user_id": "new"}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def vkid(sandbox):
    sandbox.vk.vkid.register_client(CLIENT_ID, [REDIRECT])
    return VkIdClient(sandbox.vkid_url, CLIENT_ID)


def test_pkce_pair_is_well_formed_and_fresh():
    """The verifier is 43-128 chars of a-zA-Z0-9_-, the challenge its unpadded base64url SHA-256; each new."""
    verifier, challenge = new_pkce()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,128}", verifier)
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == expected and "=" not in challenge
    assert new_pkce()[0] != verifier


def test_authorize_url_carries_every_parameter(vkid):
    """The url asks for a code with S256 PKCE, our client id, redirect, state and scope."""
    url = vkid.authorize_url(REDIRECT, "s-42", "c" * 43, scope="market email")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(vkid.base_url + "/authorize?")
    assert query == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "s-42",
        "scope": "market email",
        "code_challenge": "c" * 43,
        "code_challenge_method": "s256",
    }


def test_code_exchange_gives_a_working_vk_token(sandbox, vkid):
    """Allow -> code + device_id -> tokens; the access token works on the VK API."""
    verifier, challenge = new_pkce()
    back = _log_in(sandbox, vkid, challenge)
    assert back["state"] == "st-1"
    tokens = vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    assert tokens.access_token and tokens.refresh_token and tokens.device_id == back["device_id"]
    assert tokens.user_id == sandbox.vk.token_user(tokens.access_token)
    assert tokens.scope == "market"
    sandbox.vk.add_community(800001, "Магазин", admin_user_ids=(tokens.user_id,))
    assert VkClient(tokens.access_token, sandbox.vk_url).get_group(800001)["id"] == 800001
    assert tokens.access_token not in repr(tokens) and tokens.refresh_token not in repr(tokens)


def test_wrong_verifier_and_reused_code_are_refused(sandbox, vkid):
    """A verifier that does not match the challenge, or a code used twice, gives invalid_grant."""
    verifier, challenge = new_pkce()
    back = _log_in(sandbox, vkid, challenge)
    with pytest.raises(VkIdError) as info:
        vkid.exchange_code(back["code"], new_pkce()[0], back["device_id"], REDIRECT, back["state"])
    assert info.value.error == "invalid_grant"
    back = _log_in(sandbox, vkid, challenge)
    vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    with pytest.raises(VkIdError) as info:
        vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    assert info.value.revoked


def test_refresh_rotates_both_tokens(sandbox, vkid):
    """A refresh gives a new access AND refresh token; the old refresh token is then revoked."""
    verifier, challenge = new_pkce()
    back = _log_in(sandbox, vkid, challenge)
    first = vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    second = vkid.refresh(first.refresh_token, first.device_id)
    assert second.access_token != first.access_token and second.refresh_token != first.refresh_token
    assert second.user_id == first.user_id
    assert sandbox.vk.token_user(second.access_token) == first.user_id
    with pytest.raises(VkIdError) as info:
        vkid.refresh(first.refresh_token, first.device_id)
    assert info.value.revoked
    third = vkid.refresh(second.refresh_token, second.device_id)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_expired_access_token_is_renewed_through_the_vk_client_refresher(sandbox, vkid):
    """Wiring VkIdClient.refresh as VkClient's token_refresher recovers from error 5 on expiry."""
    verifier, challenge = new_pkce()
    back = _log_in(sandbox, vkid, challenge)
    tokens = vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    sandbox.vk.add_community(800002, "Магазин", admin_user_ids=(tokens.user_id,))
    sandbox.vk.vkid.expire_access_token(tokens.access_token)
    current = {"tokens": tokens}

    def refresher() -> str:
        current["tokens"] = vkid.refresh(current["tokens"].refresh_token, tokens.device_id)
        return current["tokens"].access_token

    client = VkClient(tokens.access_token, sandbox.vk_url, token_refresher=refresher)
    assert client.get_group(800002)["id"] == 800002
    assert current["tokens"].access_token != tokens.access_token


def test_expires_at_follows_expires_in(sandbox, vkid):
    """expires_at is now + expires_in (the emulator's access_token_ttl)."""
    sandbox.vk.vkid.access_token_ttl = 120
    verifier, challenge = new_pkce()
    back = _log_in(sandbox, vkid, challenge)
    tokens = vkid.exchange_code(back["code"], verifier, back["device_id"], REDIRECT, back["state"])
    assert abs(tokens.expires_at - (time.time() + 120)) < 5


def test_unknown_refresh_token_is_revoked_and_no_server_is_retryable(sandbox, vkid):
    """An unknown refresh token is invalid_grant (``revoked``: log in again); no server is a retryable error."""
    with pytest.raises(VkIdError) as info:
        vkid.refresh("vk2.r.unknown", "device")
    assert info.value.error == "invalid_grant" and info.value.revoked and not info.value.retryable
    with pytest.raises(VkIdError) as info:
        VkIdClient(f"http://127.0.0.1:{free_port()}/vkid", CLIENT_ID).refresh("r", "d")
    assert info.value.retryable and not info.value.revoked
