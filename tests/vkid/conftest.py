"""VK ID tests: the app pointed at the sandbox's VK ID and VK API, and a browser-like walk through the consent page."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from evosync.clients.vkid import VkIdClient, new_pkce
from tests.factories import logged_in_client

CLIENT_ID = "51000001"
BASE_URL = "http://evosync.test"
CALLBACK = BASE_URL + "/connections/vk/vkid/callback"

_ids = itertools.count(1)


@pytest.fixture
def vkid_app(app, sandbox):
    """VK ID configured against the sandbox; the emulator knows our client id and redirect URL only."""
    app.config.update(
        VK_ID_CLIENT_ID=CLIENT_ID,
        VK_ID_URL=sandbox.vkid_url,
        VK_API_URL=sandbox.vk_url,
        BASE_URL=BASE_URL,
        VK_TIMEOUT=3.0,
        VK_RATE_LIMIT_PER_SECOND=10_000,
    )
    sandbox.vk.rate_limit_enabled = False  # tests about the flow, not the pace
    sandbox.vk.vkid.register_client(CLIENT_ID, [CALLBACK])
    return app


@dataclass
class VkAdmin:
    token: str
    user_id: int
    group_id: int
    name: str


def vk_admin(sandbox, name: str = "Лавка", market_enabled: bool = True) -> VkAdmin:
    """A VK user (with a pasted-style token) administering a fresh community in the emulator."""
    n = next(_ids)
    token = f"vk-admin-token-{n}"
    user_id = sandbox.vk.add_user(token)
    group_id = 810000 + n
    sandbox.vk.add_community(group_id, f"{name} {n}", admin_tokens=(token,), market_enabled=market_enabled)
    return VkAdmin(token, user_id, group_id, f"{name} {n}")


@dataclass
class Consent:
    authorize_url: str
    callback: str  # path and query to hand to the app's test client
    query: dict[str, str]


def _hidden_fields(page: str) -> dict[str, str]:
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            fields[name.group(1)] = html.unescape(value.group(1) if value else "")
    return fields


def consent(client, decision: str = "allow", user_id: int | None = None) -> Consent:
    """Press "Connect with VK", then answer VK ID's consent page over HTTP as a browser would."""
    start = client.get("/connections/vk/vkid/start")
    assert start.status_code == 302, start.data[:300]
    authorize_url = start.headers["Location"]
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200, page.text[:300]
    form = _hidden_fields(page.text)
    form["decision"] = decision
    form["user_id"] = str(user_id) if user_id is not None else "new"
    # The form has no action: a browser posts it back to the page's own address.
    answer = requests.post(authorize_url, data=form, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text[:300]
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    return Consent(authorize_url, f"{parts.path}?{parts.query}", query)


def issue_tokens(sandbox, user_id: int, scope: str = "market groups"):
    """VK ID tokens for ``user_id`` straight from the emulator (code issued, exchanged over HTTP)."""
    verifier, challenge = new_pkce()
    params = {"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "code_challenge": challenge, "scope": scope}
    code, device_id = sandbox.vk.vkid.issue_code(params, user_id)
    return VkIdClient(sandbox.vkid_url, CLIENT_ID).exchange_code(code, verifier, device_id, CALLBACK, "s")


def english_client(app, user):
    """A logged-in client reading the English msgids (the pages are Russian by default)."""
    client = logged_in_client(app, user)
    client.set_cookie("lang", "en")
    return client
