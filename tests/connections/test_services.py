"""The connections service on its own: the community parser, the client factories, failure recording."""

from __future__ import annotations

import pytest

from evosync.clients.errors import EvotorTransientError, VkAuthError, VkTooManyRequests
from evosync.clients.ratelimit import RateLimiter, key_for_token
from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, VkConnection
from evosync.services import connections as svc
from tests.factories import make_user


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("123", 123),
        ("-123", 123),
        (" club123 ", 123),
        ("public123", 123),
        ("event77", 77),
        ("https://vk.com/club123", 123),
        ("http://m.vk.com/public123?w=wall", 123),
        ("vk.com/myshop", "myshop"),
        ("https://www.vk.com/my.shop_1/", "my.shop_1"),
        ("@myshop", "myshop"),
        ("myshop", "myshop"),
        ("vk.ru/club5", 5),
    ],
)
def test_parse_group_ref_accepts_every_form(typed, expected):
    """Ids, negative ids, clubN/publicN/eventN, links and short names all parse."""
    assert svc.parse_group_ref(typed) == expected


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "0", "-0", "club0", "https://evil.example/club1", "vk.com", "a b", "x", "9" * 25, "ok.ru/club1"],
)
def test_parse_group_ref_refuses_the_rest(typed):
    """Other hosts, zero, blanks and junk are refused with ValueError."""
    with pytest.raises(ValueError):
        svc.parse_group_ref(typed)


def test_evotor_factory_reads_config(app):
    """evotor_client_for uses EVOTOR_API_URL and EVOTOR_TIMEOUT; no token means NotConnectedError."""
    app.config.update(EVOTOR_API_URL="http://127.0.0.1:1/evotor/", EVOTOR_TIMEOUT=7.5)
    client = svc.evotor_client_for(EvotorConnection(user_id=1, access_token="tok-1"))
    assert client.base_url == "http://127.0.0.1:1/evotor" and client.timeout == 7.5
    assert "tok-1" not in repr(client)
    with pytest.raises(svc.NotConnectedError):
        svc.evotor_client_for(EvotorConnection(user_id=1))
    with pytest.raises(svc.NotConnectedError):
        svc.evotor_client_for(None)


def test_vk_factory_shares_a_redis_limiter_keyed_by_a_token_hash(app):
    """vk_client_for: VK_API_URL, VK_API_VERSION, VK_TIMEOUT, and a Redis limiter at VK_RATE_LIMIT_PER_SECOND."""
    app.config.update(
        VK_API_URL="http://127.0.0.1:1/vk/method", VK_API_VERSION="5.199", VK_TIMEOUT=4.0, VK_RATE_LIMIT_PER_SECOND=2
    )
    client = svc.vk_client_for(VkConnection(user_id=1, access_token="vk-secret-token"))
    assert (client.base_url, client.version, client.timeout) == ("http://127.0.0.1:1/vk/method", "5.199", 4.0)
    assert isinstance(client.limiter, RateLimiter) and client.limiter.rate == 2
    assert client.limiter.key == key_for_token("vk-secret-token") and "vk-secret-token" not in client.limiter.key
    same = svc.vk_client_for(VkConnection(user_id=2, access_token="vk-secret-token"))
    assert same.limiter.key == client.limiter.key  # every process and user of one token shares one budget
    with pytest.raises(svc.NotConnectedError):
        svc.vk_client_for(VkConnection(user_id=1))


def test_record_failure_breaks_only_when_the_merchant_must_act(app):
    """Auth errors break a connection; transient ones only note the message; success clears it."""
    user = make_user()
    evotor = EvotorConnection(user_id=user.id, access_token="t", state=ConnectionState.CONNECTED)
    vk = VkConnection(user_id=user.id, access_token="t", state=ConnectionState.CONNECTED, group_name="Лавка")
    db.session.add_all([evotor, vk])
    db.session.commit()
    svc.record_failure(evotor, EvotorTransientError("down"))
    svc.record_failure(vk, VkTooManyRequests(6, "slow down"))
    assert evotor.state == vk.state == ConnectionState.CONNECTED
    assert evotor.last_error and vk.last_error
    svc.record_failure(vk, VkAuthError(5, "expired"))
    assert vk.state == ConnectionState.BROKEN and "did not accept the token" in vk.last_error
    svc.record_success(vk)
    assert vk.state == ConnectionState.CONNECTED and vk.last_error is None and vk.last_ok_at is not None


def test_display_states(app):
    """The four Evotor states the page shows."""
    assert svc.evotor_display_state(None) == "not_connected"
    conn = EvotorConnection(user_id=1, access_token="t", state=ConnectionState.CONNECTED, source="webhook")
    assert svc.evotor_display_state(conn) == "connected_by_evotor"
    conn.source = "manual"
    assert svc.evotor_display_state(conn) == "connected_by_hand"
    conn.state = ConnectionState.BROKEN
    assert svc.evotor_display_state(conn) == "broken"
    conn.access_token = None
    assert svc.evotor_display_state(conn) == "not_connected"
