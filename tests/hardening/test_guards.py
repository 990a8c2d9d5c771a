"""Guards: a VK token that dies mid-run stops only its merchant, who is told where to act.

The mass-removal guard against Evotor suddenly listing an empty catalog is proven in
tests/sync_engine/test_changes.py::test_mass_removal_guard_holds_when_evotor_returns_an_empty_catalog.
"""

from __future__ import annotations

import pytest
from flask import request, request_finished

from evosync.extensions import db
from evosync.models import ConnectionState, RunStatus, SyncRun, VkConnection
from evosync.services.sync.runner import run_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


@pytest.mark.parametrize(
    "after, items_before_death",
    [("API.market.addAlbum(", False), ("API.market.add(", True)],
    ids=["after-albums-before-photos", "after-first-items"],
)
def test_token_expiring_mid_run_stops_that_merchant_only_and_tells_them(fast_vk, sandbox, after, items_before_death):
    """Merchant A's token is revoked in the middle of A's run (after its albums, before the photo upload
    server is asked for; or after its first items): A's run fails with words
    about reconnecting VK (on the run page and the Connections page), A's connection is marked as needing
    attention, nothing is duplicated; merchant B's sync right after runs to the exact desired state."""
    a, b = open_shop(sandbox, n_products=30), open_shop(sandbox, n_products=12)
    revoked: list[str] = []

    def revoke_after_first_write(sender, response, **extra) -> None:
        if revoked or not request.path.endswith("/execute") or after not in request.form.get("code", ""):
            return
        if request.form.get("access_token") == a.vk_token:
            sandbox.vk.revoke_token(a.vk_token)
            revoked.append(a.vk_token)

    request_finished.connect(revoke_after_first_write, sandbox.app)
    try:
        run_a = run_sync(a.user_id)
    finally:
        request_finished.disconnect(revoke_after_first_write, sandbox.app)
    assert revoked, "the token died in the middle of the run"
    assert run_a.status == RunStatus.FAILED
    assert "Reconnect VK" in run_a.error
    published = a.vk_items()
    assert bool(published) == items_before_death
    assert len(published) < 30 - 2, ("stopped part-way", len(sandbox.vk.items(a.group_id)), sandbox.vk.stats["methods"])
    skus = [i["sku"] for i in published]
    assert len(skus) == len(set(skus))
    conn_a = VkConnection.query.filter_by(user_id=a.user_id).one()
    assert conn_a.state == ConnectionState.BROKEN and conn_a.last_error

    run_b = run_sync(b.user_id)
    assert run_b.status == RunStatus.SUCCEEDED, run_b.error
    assert mismatches(sandbox, b.user_id, b.group_id) == []
    assert VkConnection.query.filter_by(user_id=b.user_id).one().state == ConnectionState.CONNECTED

    web = logged_in_client(fast_vk, a.user)
    web.get("/language/en")
    run_page = web.get(f"/sync/runs/{run_a.id}").get_data(as_text=True)
    assert "Reconnect VK on the Connections page" in run_page
    connections_page = web.get("/connections").get_data(as_text=True)
    assert conn_a.last_error in connections_page or "needs your attention" in connections_page.lower()
    # A's next run refuses at once with the same advice instead of hammering VK with a dead token
    requests_before = sandbox.vk.stats["requests"]
    again = run_sync(a.user_id)
    assert again.status == RunStatus.FAILED and "Connections page" in again.error
    assert sandbox.vk.stats["requests"] == requests_before
    assert SyncRun.query.filter_by(user_id=b.user_id).count() == 1
    db.session.rollback()
