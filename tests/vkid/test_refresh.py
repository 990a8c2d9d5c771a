"""VK ID token refresh: rotation stored, one refresh across workers, mid-sync expiry, and a refused refresh."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from flask import request, request_finished

from evosync.clients.errors import VkAuthError
from evosync.extensions import db
from evosync.models import ConnectionState, RunStatus, VkConnection, utcnow
from evosync.services import connections as conn_svc
from evosync.services import vkid_tokens as svc
from evosync.services.sync.runner import run_sync
from tests.factories import emails_to
from tests.sync_engine.conftest import open_shop
from tests.vkid.conftest import english_client, issue_tokens


@pytest.fixture
def vkid_sync_app(vkid_app, sandbox):
    """The VK ID app also reading Evotor from the sandbox, pages large enough for quick syncs."""
    vkid_app.config.update(EVOTOR_API_URL=sandbox.evotor_url, EVOTOR_TIMEOUT=3.0)
    sandbox.evotor.page_size = 50
    return vkid_app


def _fresh(conn_id: int) -> VkConnection:
    db.session.expire_all()
    return db.session.get(VkConnection, conn_id)


def switch_to_vkid(sandbox, shop, expires_in: dt.timedelta = dt.timedelta(hours=1)) -> VkConnection:
    """Make the shop's VK connection a VK ID one: tokens issued by the emulator for the community's admin."""
    tokens = issue_tokens(sandbox, sandbox.vk.token_user(shop.vk_token))
    conn = conn_svc.get_vk_connection(shop.user_id)
    conn.method = "vkid"
    conn.access_token = tokens.access_token
    conn.refresh_token = tokens.refresh_token
    conn.device_id = tokens.device_id
    conn.token_expires_at = utcnow() + expires_in
    db.session.commit()
    return conn


def test_refresh_stores_the_rotated_pair_and_the_old_refresh_token_dies(vkid_sync_app, sandbox):
    """refresh_vk_token: a new access token works, the new refresh token is stored, the old one is refused."""
    shop = open_shop(sandbox, n_products=2)
    conn = switch_to_vkid(sandbox, shop)
    old_access, old_refresh = conn.access_token, conn.refresh_token

    new_access = svc.refresh_vk_token(conn)

    assert new_access and new_access != old_access
    assert conn.access_token == new_access  # the caller's object follows, without being dirty
    stored = _fresh(conn.id)
    assert stored.access_token == new_access and stored.refresh_token not in (None, old_refresh)
    assert stored.token_expires_at > utcnow() + dt.timedelta(minutes=55)
    assert sandbox.vk.stats["token_refreshes"] == 1
    with pytest.raises(Exception) as refused:
        svc.vkid_client().refresh(old_refresh, conn.device_id)
    assert refused.value.revoked


def test_two_workers_needing_a_refresh_at_once_refresh_once(vkid_sync_app, sandbox):
    """Two threads (own app contexts and sessions) refresh the same connection together: VK ID sees one refresh."""
    shop = open_shop(sandbox, n_products=2)
    conn = switch_to_vkid(sandbox, shop)
    conn_id, stale = conn.id, conn.access_token
    sandbox.vk.vkid.expire_access_token(stale)
    barrier = threading.Barrier(2)
    results: list[str | None] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with vkid_sync_app.app_context():
                mine = db.session.get(VkConnection, conn_id)
                assert mine.access_token == stale  # loaded before either refresh
                barrier.wait(timeout=10)
                results.append(svc.refresh_vk_token(mine))
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sandbox.vk.stats["token_refreshes"] == 1
    assert len(results) == 2 and results[0] == results[1] and results[0] != stale
    assert _fresh(conn_id).access_token == results[0]


def test_token_expiring_mid_sync_is_refreshed_without_the_run_noticing(vkid_sync_app, sandbox):
    """The access token dies right after the first market write of a run; the run still succeeds, one refresh."""
    shop = open_shop(sandbox, n_products=8)
    conn = switch_to_vkid(sandbox, shop)
    first_token = conn.access_token
    expired: list[str] = []

    def expire_after_first_write(sender, response, **extra) -> None:
        if not expired and request.path.endswith("/execute") and "market.add" in request.form.get("code", ""):
            token = request.form["access_token"]
            sandbox.vk.vkid.expire_access_token(token)
            expired.append(token)

    request_finished.connect(expire_after_first_write, sandbox.app)
    try:
        run = run_sync(shop.user_id)
    finally:
        request_finished.disconnect(expire_after_first_write, sandbox.app)

    assert expired == [first_token]
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sandbox.vk.stats["errors"].get("5", 0) >= 1  # VK did refuse the dead token ...
    assert sandbox.vk.stats["token_refreshes"] == 1  # ... and one refresh served every client of the run
    assert run.created_count > 0 and len(shop.vk_items()) == run.created_count
    stored = _fresh(conn.id)
    assert stored.access_token != expired[0] and stored.state == ConnectionState.CONNECTED


def test_token_expired_before_the_run_is_refreshed_once_for_both_clients(vkid_sync_app, sandbox):
    """Expired (but not yet due by our clock) before run_sync: the VK read and the apply clients share one refresh."""
    shop = open_shop(sandbox, n_products=5)
    conn = switch_to_vkid(sandbox, shop)
    sandbox.vk.vkid.expire_access_token(conn.access_token)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sandbox.vk.stats["token_refreshes"] == 1
    assert run.created_count > 0 and len(shop.vk_items()) == run.created_count


def test_token_due_within_minutes_is_refreshed_before_the_run(vkid_sync_app, sandbox):
    """token_expires_at 2 minutes ahead: refreshed up front, so VK never answers error 5."""
    shop = open_shop(sandbox, n_products=3)
    conn = switch_to_vkid(sandbox, shop, expires_in=dt.timedelta(minutes=2))
    old = conn.access_token
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sandbox.vk.stats["token_refreshes"] == 1
    assert sandbox.vk.stats["errors"].get("5", 0) == 0
    assert _fresh(conn.id).access_token != old


def test_pasted_tokens_get_no_refresher(vkid_sync_app, sandbox):
    """Only VK ID connections are refreshed: a pasted token's client has no refresher and error 5 stays error 5."""
    shop = open_shop(sandbox, n_products=1)
    conn = conn_svc.get_vk_connection(shop.user_id)
    client = conn_svc.vk_client_for(conn)
    assert client.token_refresher is None
    sandbox.vk.revoke_token(shop.vk_token)
    with pytest.raises(VkAuthError):
        client.get_group(shop.group_id)
    assert sandbox.vk.stats["token_refreshes"] == 0


def test_revoked_refresh_token_breaks_only_that_merchant_and_emails_them(vkid_sync_app, sandbox):
    """A refused refresh: that merchant's connection is broken and they are emailed once; the other shop syncs on."""
    victim, other = open_shop(sandbox, n_products=3), open_shop(sandbox, n_products=3)
    victim_conn = switch_to_vkid(sandbox, victim)
    other_conn = switch_to_vkid(sandbox, other)
    sandbox.vk.vkid.revoke_refresh_token(victim_conn.refresh_token)
    sandbox.vk.vkid.expire_access_token(victim_conn.access_token)

    failed = run_sync(victim.user_id)
    assert failed.status == RunStatus.FAILED
    broken = _fresh(victim_conn.id)
    assert broken.state == ConnectionState.BROKEN and broken.refresh_token is None
    mails = emails_to(vkid_sync_app, victim.user.email)
    assert len(mails) == 1 and "http://evosync.test/connections" in mails[0].body
    assert emails_to(vkid_sync_app, other.user.email) == []

    assert run_sync(other.user_id).status == RunStatus.SUCCEEDED
    assert _fresh(other_conn.id).state == ConnectionState.CONNECTED
    assert len(other.vk_items()) > 0

    # Pressing Test again neither asks VK ID nor emails again; the page says to sign in again.
    client = english_client(vkid_sync_app, victim.user)
    assert client.post("/connections/vk/test", headers={"Accept": "application/json"}).get_json()["ok"] is False
    assert len(emails_to(vkid_sync_app, victim.user.email)) == 1
    assert "vkid-reconnect" in client.get("/connections").get_data(as_text=True)
