"""The /connections page and its forms against the sandbox emulators over real HTTP."""

from __future__ import annotations

import re

import pytest

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, VkConnection
from evosync.services import connections as svc
from tests.factories import logged_in_client, make_user

EVOTOR_TOKEN = "evotor-token-abcdef-123456"
VK_TOKEN = "vk1.a.user-token-0123456789-ZYXW"
GROUP_ID = 123
JSON = {"Accept": "application/json"}


def evotor_conn(user) -> EvotorConnection | None:
    db.session.expire_all()
    return svc.get_evotor_connection(user.id)


def vk_conn(user) -> VkConnection | None:
    db.session.expire_all()
    return svc.get_vk_connection(user.id)


@pytest.fixture
def evotor_account(sandbox):
    sandbox.evotor.add_account(EVOTOR_TOKEN)
    sandbox.evotor.add_store(EVOTOR_TOKEN, "Магазин у дома")
    sandbox.evotor.add_store(EVOTOR_TOKEN, "Лавка")
    return EVOTOR_TOKEN


@pytest.fixture
def vk_community(sandbox):
    sandbox.vk.add_user(VK_TOKEN)
    return sandbox.vk.add_community(GROUP_ID, "Лавка <b>у дома</b>", admin_tokens=(VK_TOKEN,), screen_name="myshop")


# ------------------------------------------------------------------------------------------- Evotor


def test_saving_a_good_evotor_token_connects_by_hand(merchant_client, merchant, evotor_account):
    """A valid token is checked against GET /stores, stored, and shown masked as connected by hand."""
    response = merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    assert response.status_code == 302
    conn = evotor_conn(merchant)
    assert conn.state == ConnectionState.CONNECTED and conn.source == "manual"
    assert conn.last_ok_at is not None and conn.last_error is None
    page = merchant_client.get("/connections").get_data(as_text=True)
    assert 'data-state="connected_by_hand"' in page
    assert "2 store(s)" in page  # the flash of the check
    assert "••••••••3456" in page
    assert EVOTOR_TOKEN not in page


def test_evotor_test_button_answers_json(merchant_client, merchant, evotor_account):
    """The inline Test answers {"ok", "message", "stores"} for a fetch asking for JSON."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    answer = merchant_client.post("/connections/evotor/test", headers=JSON).get_json()
    assert answer["ok"] is True and answer["stores"] == 2 and "2" in answer["message"]


def test_evotor_test_without_javascript_redirects_with_message(merchant_client, evotor_account):
    """A plain form post of Test (no JavaScript) comes back to the page with the result as a message."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    response = merchant_client.post("/connections/evotor/test", headers={"Accept": "text/html"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/connections")
    assert "store(s) found" in merchant_client.get("/connections").get_data(as_text=True)


def test_revoked_evotor_token_breaks_the_connection(sandbox, merchant_client, merchant, evotor_account):
    """After Evotor revokes the token, Test says so in plain words and the state becomes broken."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    sandbox.evotor.revoke_token(EVOTOR_TOKEN)
    answer = merchant_client.post("/connections/evotor/test", headers=JSON).get_json()
    assert answer["ok"] is False and answer["problem"] == "token"
    assert "did not accept the token" in answer["message"]
    conn = evotor_conn(merchant)
    assert conn.state == ConnectionState.BROKEN and "did not accept" in conn.last_error
    page = merchant_client.get("/connections").get_data(as_text=True)
    assert 'data-state="broken"' in page and "did not accept the token" in page


def test_saving_a_bad_evotor_token_stores_it_broken(merchant_client, merchant, sandbox):
    """An unknown token is kept (so the merchant sees what was saved) but marked broken with the reason."""
    merchant_client.post("/connections/evotor", data={"token": "nobody-knows-this-token"})
    conn = evotor_conn(merchant)
    assert conn.state == ConnectionState.BROKEN and conn.last_ok_at is None


def test_evotor_unreachable_is_a_plain_message_not_a_broken_state(
    linked_app, merchant_client, merchant, evotor_account
):
    """When Evotor does not answer, Test says so without blaming the token, and a live connection stays live."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    linked_app.config["EVOTOR_API_URL"] = "http://127.0.0.1:9/evotor"  # nothing listens on the discard port
    answer = merchant_client.post("/connections/evotor/test", headers=JSON).get_json()
    assert answer["ok"] is False and answer["problem"] == "service"
    assert evotor_conn(merchant).state == ConnectionState.CONNECTED


def test_evotor_test_when_not_connected(merchant_client):
    """Test with nothing saved explains what to do."""
    answer = merchant_client.post("/connections/evotor/test", headers=JSON).get_json()
    assert answer == {"ok": False, "message": answer["message"], "stores": 0, "problem": "not_connected"}


def test_evotor_empty_token_is_a_form_error(merchant_client, merchant):
    """An empty token re-renders the form with the error next to the field and stores nothing."""
    response = merchant_client.post("/connections/evotor", data={"token": ""})
    assert response.status_code == 400
    assert "Paste the token first." in response.get_data(as_text=True)
    assert evotor_conn(merchant) is None


def test_evotor_disconnect_forgets_the_token(merchant_client, merchant, evotor_account):
    """Disconnect drops the token; the page says not connected."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    assert merchant_client.post("/connections/evotor/disconnect").status_code == 302
    conn = evotor_conn(merchant)
    assert conn.access_token is None and conn.state == ConnectionState.NOT_CONNECTED
    assert 'data-state="not_connected"' in merchant_client.get("/connections").get_data(as_text=True)


def test_connected_by_evotor_is_shown(partner, merchant_client, merchant, sandbox):
    """A connection made through the partner webhooks shows as connected by Evotor (the token is a real one of the
    emulator: the catalog refresh runs as soon as it arrives)."""
    sandbox.evotor.add_account("cloud-token-from-evotor")
    partner("/user/verify", {"userId": "01-1", "login": merchant.email, "password": "Correct-Horse-9"})
    partner("/user/token", {"userId": "01-1", "token": "cloud-token-from-evotor"})
    page = merchant_client.get("/connections").get_data(as_text=True)
    assert 'data-state="connected_by_evotor"' in page
    assert "cloud-token-from-evotor" not in page


# ------------------------------------------------------------------------------------------- VK


@pytest.mark.parametrize(
    "typed",
    [
        "123",
        "-123",
        "club123",
        "public123",
        "https://vk.com/club123",
        "vk.com/myshop",
        "myshop",
        "https://vk.com/myshop/",
    ],
)
def test_vk_group_forms_are_resolved(merchant_client, merchant, vk_community, typed):
    """Every way a merchant may write the community resolves to its id and name through groups.getById."""
    response = merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": typed})
    assert response.status_code == 302
    conn = vk_conn(merchant)
    assert conn.group_id == GROUP_ID and conn.group_name == "Лавка <b>у дома</b>"
    assert conn.state == ConnectionState.CONNECTED and conn.market_enabled is True


def test_vk_page_shows_community_market_and_masked_token(merchant_client, vk_community):
    """The page names the community (escaped) with its id, says products are enabled, masks the token."""
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "club123"})
    page = merchant_client.get("/connections").get_data(as_text=True)
    assert "Лавка &lt;b&gt;у дома&lt;/b&gt;" in page and "id 123" in page
    assert "enabled" in page
    assert "••••••••" + VK_TOKEN[-4:] in page
    assert VK_TOKEN not in page


def test_vk_test_button_answers_json(merchant_client, vk_community):
    """The inline VK Test answers {"ok", "message"} with the community."""
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    answer = merchant_client.post("/connections/vk/test", headers=JSON).get_json()
    assert answer["ok"] is True and answer["group_id"] == GROUP_ID and "products are enabled" in answer["message"]


def test_vk_revoked_token_says_error_5_in_words(sandbox, merchant_client, merchant, vk_community):
    """A revoked token (VK error 5) is reported as a token problem and breaks the connection."""
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    sandbox.vk.revoke_token(VK_TOKEN)
    answer = merchant_client.post("/connections/vk/test", headers=JSON).get_json()
    assert answer["ok"] is False and answer["problem"] == "token"
    assert "VK did not accept the token" in answer["message"]
    assert vk_conn(merchant).state == ConnectionState.BROKEN


def test_vk_non_admin_is_an_access_problem(sandbox, merchant_client, merchant):
    """A token of someone who does not administer the community is refused as an access problem (15)."""
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Чужое сообщество", admin_tokens=("someone-else",))
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    conn = vk_conn(merchant)
    assert conn.state == ConnectionState.BROKEN
    assert "no access to «Чужое сообщество»" in conn.last_error
    answer = merchant_client.post("/connections/vk/test", headers=JSON).get_json()
    assert answer["problem"] == "access"


def test_vk_closed_community_is_an_access_problem(sandbox, merchant_client, merchant):
    """A private community of someone else answers 203 from groups.getById: an access problem too."""
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Закрытое", admin_tokens=("someone-else",), is_closed=2)
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    answer = merchant_client.post("/connections/vk/test", headers=JSON).get_json()
    assert answer["ok"] is False and answer["problem"] == "access"


def test_vk_market_disabled_is_1438_in_words(sandbox, merchant_client, merchant):
    """Products switched off (1438) are named, and the page says the products section is off."""
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Без товаров", admin_tokens=(VK_TOKEN,), market_enabled=False)
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    answer = merchant_client.post("/connections/vk/test", headers=JSON).get_json()
    assert answer["ok"] is False and answer["problem"] == "market"
    assert 'Turn on the "Products" section' in answer["message"]
    assert vk_conn(merchant).market_enabled is False
    assert "switched off" in merchant_client.get("/connections").get_data(as_text=True)


def test_vk_market_switched_on_again_repairs_the_connection(sandbox, merchant_client, merchant):
    """After the merchant turns products on, Test passes and the connection is live again."""
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Лавка", admin_tokens=(VK_TOKEN,), market_enabled=False)
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    sandbox.vk.set_market_enabled(GROUP_ID, True)
    assert merchant_client.post("/connections/vk/test", headers=JSON).get_json()["ok"] is True
    conn = vk_conn(merchant)
    assert conn.state == ConnectionState.CONNECTED and conn.market_enabled is True and conn.last_error is None


def test_vk_unknown_screen_name(merchant_client, merchant, vk_community):
    """A short name no community has is reported as not found, in words."""
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "vk.com/no_such_shop"})
    conn = vk_conn(merchant)
    assert conn.state == ConnectionState.BROKEN and "could not find this community" in conn.last_error


@pytest.mark.parametrize("typed", ["", "https://example.com/club123", "vk.com/", "a b c", "-0", "club0"])
def test_vk_unparseable_group_is_a_form_error(merchant_client, merchant, vk_community, typed):
    """A community field that is no VK address re-renders the form with an error and stores nothing."""
    response = merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": typed})
    assert response.status_code == 400
    assert vk_conn(merchant) is None
    assert VK_TOKEN not in response.get_data(as_text=True)


def test_vk_disconnect(merchant_client, merchant, vk_community):
    """Disconnect forgets the token but remembers the community for a quick reconnect."""
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    merchant_client.post("/connections/vk/disconnect")
    conn = vk_conn(merchant)
    assert conn.access_token is None and conn.state == ConnectionState.NOT_CONNECTED and conn.group_id == GROUP_ID


# ------------------------------------------------------------------------------------------- access rules


def test_logged_out_users_are_sent_to_login(linked_app):
    """Logged out, the page redirects to /login and the JSON Test answers 401, never data."""
    client = linked_app.test_client()
    assert "/login" in client.get("/connections").headers["Location"]
    assert client.post("/connections/vk/test", headers=JSON).status_code == 401


def test_users_without_the_permission_get_403(linked_app):
    """A user whose roles lack connections.manage cannot open or use the page."""
    client = logged_in_client(linked_app, make_user(roles=()))
    assert client.get("/connections").status_code == 403
    assert client.post("/connections/evotor", data={"token": "x"}).status_code == 403


def test_csrf_is_required_and_the_header_works(linked_app, merchant_client, evotor_account):
    """With CSRF on, a Test without a token is refused; the page's token in X-CSRFToken (the fetch) works."""
    linked_app.config["WTF_CSRF_ENABLED"] = True
    assert merchant_client.post("/connections/evotor/test", headers=JSON).status_code == 400
    page = merchant_client.get("/connections").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = merchant_client.post("/connections/evotor/test", headers={**JSON, "X-CSRFToken": token})
    assert answer.status_code == 200 and answer.get_json()["problem"] == "not_connected"


def test_a_user_never_sees_or_changes_another_users_connections(linked_app, sandbox, evotor_account, vk_community):
    """B's page, tests, saves and disconnects touch only B's rows; A's connections stay as they were."""
    alice, bob = make_user(), make_user()
    a = logged_in_client(linked_app, alice)
    b = logged_in_client(linked_app, bob)
    a.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    a.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})

    page = b.get("/connections").get_data(as_text=True)
    assert EVOTOR_TOKEN[-4:] not in page and VK_TOKEN[-4:] not in page and "Лавка" not in page
    assert b.post("/connections/evotor/test", headers=JSON).get_json()["problem"] == "not_connected"
    assert b.post("/connections/vk/test", headers=JSON).get_json()["problem"] == "not_connected"
    b.post("/connections/evotor/disconnect")
    b.post("/connections/vk/disconnect")
    b.post("/connections/evotor", data={"token": "bobs-token"})
    b.post("/connections/vk", data={"token": "bobs-vk-token", "group_id": "456"})

    a_evotor, a_vk = evotor_conn(alice), vk_conn(alice)
    assert a_evotor.access_token == EVOTOR_TOKEN and a_evotor.state == ConnectionState.CONNECTED
    assert a_vk.access_token == VK_TOKEN and a_vk.group_id == GROUP_ID and a_vk.state == ConnectionState.CONNECTED
    assert evotor_conn(bob).access_token == "bobs-token" and vk_conn(bob).group_id == 456
    assert "Лавка" in a.get("/connections").get_data(as_text=True)


def test_tokens_are_encrypted_at_rest(merchant_client, evotor_account, vk_community):
    """Neither token appears in clear in the database."""
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    raw_evotor = db.session.execute(db.text("SELECT access_token FROM evotor_connections")).scalar()
    raw_vk = db.session.execute(db.text("SELECT access_token FROM vk_connections")).scalar()
    assert EVOTOR_TOKEN not in raw_evotor and VK_TOKEN not in raw_vk


def test_tokens_never_reach_the_logs(merchant_client, sandbox, evotor_account, vk_community, caplog):
    """Saving and testing with good and bad tokens logs nothing token-shaped of ours."""
    caplog.set_level("DEBUG")
    merchant_client.post("/connections/evotor", data={"token": EVOTOR_TOKEN})
    merchant_client.post("/connections/vk", data={"token": VK_TOKEN, "group_id": "123"})
    sandbox.vk.revoke_token(VK_TOKEN)
    merchant_client.post("/connections/vk/test", headers=JSON)
    assert EVOTOR_TOKEN not in caplog.text and VK_TOKEN not in caplog.text
