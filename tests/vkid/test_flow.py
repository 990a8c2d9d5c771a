"""'Connect with VK' end to end: our app, the sandbox's VK ID consent page over HTTP, and back."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import requests
import sqlalchemy as sa

from evosync.crypto import secret_box
from evosync.extensions import db
from evosync.models import ConnectionState, VkConnection, utcnow
from evosync.redis_conn import get_redis
from evosync.services import connections as conn_svc
from evosync.services.vkid import FLOW_KEY
from tests.factories import make_user
from tests.vkid.conftest import CALLBACK, CLIENT_ID, consent, english_client, vk_admin


def _conn(user) -> VkConnection | None:
    db.session.expire_all()
    return conn_svc.get_vk_connection(user.id)


def _raw_tokens(user) -> tuple[str, str]:
    row = db.session.execute(
        sa.text("SELECT access_token, refresh_token FROM vk_connections WHERE user_id = :u"), {"u": user.id}
    ).one()
    return row[0], row[1]


def test_good_path_stores_encrypted_tokens_and_connects_the_chosen_community(vkid_app, sandbox):
    """Allow on VK ID -> tokens stored encrypted with expiry and device id -> community picked -> test passes."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)

    answer = consent(client, user_id=admin.user_id)
    query = parse_qs(urlsplit(answer.authorize_url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == [CALLBACK]
    assert query["code_challenge_method"] == ["s256"]
    assert "market" in query["scope"][0].split()
    assert get_redis().ttl(FLOW_KEY.format(state=query["state"][0])) in range(1, 601)

    landing = client.get(answer.callback, follow_redirects=True)
    assert landing.status_code == 200
    assert landing.request.path == "/connections/vk/vkid/choose-community"
    assert admin.name in landing.get_data(as_text=True)
    assert sandbox.vk.stats["token_exchanges"] == 1

    conn = _conn(user)
    assert conn.method == "vkid"
    assert conn.device_id == answer.query["device_id"]
    assert conn.vk_user_id == admin.user_id
    assert conn.state == ConnectionState.BROKEN  # not usable before the community is picked and tested
    assert utcnow() + dt.timedelta(minutes=55) < conn.token_expires_at < utcnow() + dt.timedelta(minutes=65)
    raw_access, raw_refresh = _raw_tokens(user)
    assert raw_access != conn.access_token and secret_box.decrypt(raw_access) == conn.access_token
    assert raw_refresh != conn.refresh_token and secret_box.decrypt(raw_refresh) == conn.refresh_token
    assert sandbox.vk.token_user(conn.access_token) == admin.user_id

    done = client.post(
        "/connections/vk/vkid/choose-community", data={"group_id": str(admin.group_id)}, follow_redirects=True
    )
    assert done.request.path == "/connections"
    page = done.get_data(as_text=True)
    assert admin.name in page and 'data-method="vkid"' in page and "vk-token-expires" in page
    conn = _conn(user)
    assert (conn.state, conn.group_id, conn.group_name, conn.market_enabled) == (
        ConnectionState.CONNECTED,
        admin.group_id,
        admin.name,
        True,
    )
    assert sandbox.vk.stats["methods"].get("market.getAlbums", 0) >= 1  # the usual connection test ran


def test_a_typed_community_is_accepted_and_a_failing_one_explained(vkid_app, sandbox):
    """The merchant may type the community; a community without products stays on the page with the reason."""
    admin = vk_admin(sandbox)
    closed = vk_admin(sandbox, name="Без товаров", market_enabled=False)
    sandbox.vk.add_admin(closed.group_id, admin.token)
    user = make_user()
    client = english_client(vkid_app, user)
    client.get(consent(client, user_id=admin.user_id).callback)

    failed = client.post("/connections/vk/vkid/choose-community", data={"other": f"club{closed.group_id}"})
    assert failed.status_code == 200
    assert "check-result" in failed.get_data(as_text=True)
    assert _conn(user).state == ConnectionState.BROKEN

    done = client.post("/connections/vk/vkid/choose-community", data={"other": f"https://vk.com/club{admin.group_id}"})
    assert done.status_code == 302
    assert _conn(user).state == ConnectionState.CONNECTED and _conn(user).group_id == admin.group_id


def test_choose_community_without_a_choice_or_with_nonsense_is_refused(vkid_app, sandbox):
    """An empty or unreadable pick is a 400 form error; nothing is tested or stored."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    client.get(consent(client, user_id=admin.user_id).callback)
    assert client.post("/connections/vk/vkid/choose-community", data={}).status_code == 400
    assert client.post("/connections/vk/vkid/choose-community", data={"other": "not a/community"}).status_code == 400
    assert _conn(user).group_id is None


def test_bad_state_gets_a_friendly_400_and_stores_nothing(vkid_app, sandbox):
    """A callback whose state we never issued is refused with a plain page; no token exchange happens."""
    user = make_user()
    client = english_client(vkid_app, user)
    response = client.get("/connections/vk/vkid/callback?code=abc&state=forged-state&device_id=dev")
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert 'data-reason="state"' in text and "/connections/vk/vkid/start" in text
    assert _conn(user) is None
    assert sandbox.vk.stats["token_exchanges"] == 0


def test_denied_consent_says_so_and_stores_nothing(vkid_app, sandbox):
    """Deny on VK ID -> back on /connections with a plain message; no connection row, no exchange."""
    user = make_user()
    client = english_client(vkid_app, user)
    answer = consent(client, decision="deny")
    assert answer.query["error"] == "access_denied"
    page = client.get(answer.callback, follow_redirects=True)
    assert page.request.path == "/connections"
    assert "You did not allow EvoSync" in page.get_data(as_text=True)
    assert _conn(user) is None
    assert sandbox.vk.stats["token_exchanges"] == 0


def test_expired_code_is_explained_and_stores_nothing(vkid_app, sandbox):
    """A code VK ID no longer accepts (expired) -> friendly 400, nothing stored."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    answer = consent(client, user_id=admin.user_id)
    sandbox.vk.vkid.expire_code(answer.query["code"])
    response = client.get(answer.callback)
    assert response.status_code == 400
    assert 'data-reason="code"' in response.get_data(as_text=True)
    assert _conn(user) is None


def test_a_state_works_once(vkid_app, sandbox):
    """Replaying the callback (same state) is refused and does not exchange again or touch the tokens."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    answer = consent(client, user_id=admin.user_id)
    assert client.get(answer.callback).status_code == 302
    token = _conn(user).access_token
    again = client.get(answer.callback)
    assert again.status_code == 400 and 'data-reason="state"' in again.get_data(as_text=True)
    assert sandbox.vk.stats["token_exchanges"] == 1
    assert _conn(user).access_token == token


def test_a_state_expires_after_ten_minutes(vkid_app, sandbox):
    """A sign-in finished after the state's 10 minutes is refused like an unknown state."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    answer = consent(client, user_id=admin.user_id)
    get_redis().delete(FLOW_KEY.format(state=answer.query["state"]))  # what the 600 s expiry does
    assert client.get(answer.callback).status_code == 400
    assert _conn(user) is None


def test_another_users_state_is_refused(vkid_app, sandbox):
    """A callback carrying a state started by another merchant does not connect this one (nor that one)."""
    admin = vk_admin(sandbox)
    alice, bob = make_user(), make_user()
    alice_client, bob_client = english_client(vkid_app, alice), english_client(vkid_app, bob)
    answer = consent(alice_client, user_id=admin.user_id)
    assert bob_client.get(answer.callback).status_code == 400
    assert _conn(bob) is None and _conn(alice) is None


def test_without_vk_id_settings_there_is_no_button_and_start_explains(app, sandbox):
    """VK_ID_CLIENT_ID unset: /connections offers only the token form (with its guide); start says why."""
    app.config["VK_ID_CLIENT_ID"] = ""
    client = english_client(app, make_user())
    page = client.get("/connections").get_data(as_text=True)
    assert "vkid-connect" not in page and "vk-token-guide" in page
    response = client.get("/connections/vk/vkid/start", follow_redirects=True)
    assert response.request.path == "/connections"
    assert "not set up on this EvoSync server" in response.get_data(as_text=True)


def test_connections_page_shows_the_button_and_how_vk_was_connected(vkid_app, sandbox):
    """With VK ID configured the button shows; a pasted token is shown as such, without an expiry."""
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    page = client.get("/connections").get_data(as_text=True)
    assert "vkid-connect" in page and "/connections/vk/vkid/start" in page
    assert conn_svc.connect_vk(user.id, admin.token, str(admin.group_id)).ok
    page = client.get("/connections").get_data(as_text=True)
    assert 'data-method="token"' in page and "vk-token-expires" not in page


def test_choose_community_needs_a_vk_id_sign_in(vkid_app, sandbox):
    """Without a VK ID connection the community page sends the merchant back to /connections."""
    client = english_client(vkid_app, make_user())
    response = client.get("/connections/vk/vkid/choose-community")
    assert response.status_code == 302 and response.headers["Location"].endswith("/connections")


def test_vkid_pages_need_login_and_csrf(vkid_app, sandbox):
    """Logged out: to /login. The community form refuses a post without the CSRF token."""
    anonymous = vkid_app.test_client()
    for page in ("start", "callback", "choose-community"):
        path = f"/connections/vk/vkid/{page}"
        assert anonymous.get(path).status_code in (302, 401)
    admin = vk_admin(sandbox)
    user = make_user()
    client = english_client(vkid_app, user)
    client.get(consent(client, user_id=admin.user_id).callback)
    vkid_app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/connections/vk/vkid/choose-community", data={"group_id": str(admin.group_id)})
    assert response.status_code == 400
    assert _conn(user).group_id is None


def test_sandbox_consent_page_is_real_html(vkid_app, sandbox):
    """The emulator's authorize page is served over HTTP with Allow and Deny buttons (what consent() posts)."""
    client = english_client(vkid_app, make_user())
    location = client.get("/connections/vk/vkid/start").headers["Location"]
    page = requests.get(location, timeout=5).text
    assert 'value="allow"' in page and 'value="deny"' in page
