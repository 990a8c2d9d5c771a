"""Each merchant sees only their own runs, every POST needs its CSRF token, and permissions are checked."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.models import Permission, Role, RunStatus, SyncRun
from evosync.models.accounts import user_roles
from tests.factories import logged_in_client, make_user
from tests.sync_web.conftest import csrf_from, html


@pytest.fixture
def others_run(shop):
    """A finished run of the shop owner, waiting for confirmation, with a failure on record."""
    run = SyncRun(
        user_id=shop.user_id,
        trigger="manual",
        status=RunStatus.WAITING_CONFIRMATION,
        failed_count=1,
        details={"failures": [{"key": "s:p", "title": "Secret product", "reason": "x"}], "pending_removals": []},
    )
    db.session.add(run)
    db.session.commit()
    return run


def test_another_merchants_run_is_404_on_every_run_route(stranger, others_run, shop):
    """A stranger gets 404 for the run page, retry and confirm of someone else's run, and nothing is queued."""
    assert stranger.get(f"/sync/runs/{others_run.id}").status_code == 404
    assert stranger.post(f"/sync/runs/{others_run.id}/retry").status_code == 404
    assert stranger.post(f"/sync/runs/{others_run.id}/confirm").status_code == 404
    assert db.session.scalar(db.select(db.func.count()).select_from(SyncRun)) == 1
    assert shop.sandbox.vk.stats["writes"] == 0


def test_status_api_and_dashboard_show_only_own_runs(stranger, others_run, web):
    """The stranger's status is empty and their dashboard lists no run, while the owner sees theirs."""
    assert stranger.get("/api/sync/status").get_json() == {"run": None, "last_finished": None}
    assert f'data-run-id="{others_run.id}"' not in html(stranger.get("/sync"))
    assert web.get("/api/sync/status").get_json()["last_finished"]["id"] == others_run.id
    assert f'data-run-id="{others_run.id}"' in html(web.get("/sync"))


def test_posts_need_the_csrf_token(fast_vk, web, shop, others_run):
    """With CSRF on, Sync now, retry, confirm and settings are refused without the token and work with it."""
    fast_vk.config["WTF_CSRF_ENABLED"] = True
    for path in ("/sync/run", f"/sync/runs/{others_run.id}/retry", f"/sync/runs/{others_run.id}/confirm"):
        assert web.post(path).status_code == 400, path
    assert web.post("/sync/settings", data={"markup_percent": "10"}).status_code == 400
    assert db.session.scalar(db.select(db.func.count()).select_from(SyncRun)) == 1
    token = csrf_from(html(web.get("/sync")))
    resp = web.post("/sync/run", headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert resp.status_code in (200, 202) and resp.get_json()["run_id"]


@pytest.fixture
def viewer_role(fast_vk):
    """A role that may only look (catalog.view); removed afterwards, since roles outlive a test's cleanup."""
    role = Role(name="sync-web-viewer", description="can look")
    role.permission_rows = list(db.session.scalars(db.select(Permission).filter_by(name="catalog.view")))
    db.session.add(role)
    db.session.commit()
    yield role
    db.session.rollback()
    db.session.execute(db.delete(user_roles).where(user_roles.c.role_id == role.id))
    db.session.delete(db.session.get(Role, role.id))
    db.session.commit()


def test_settings_and_sync_need_their_permissions(fast_vk, viewer_role):
    """A user who may only view sees the dashboard without «Sync now» and is refused settings and runs."""
    web = logged_in_client(fast_vk, make_user(roles=(viewer_role.name,)))
    page = html(web.get("/sync"))
    assert 'id="sync-now-form"' not in page and "Sync now" not in page
    assert web.get("/sync/settings").status_code == 403
    assert web.post("/sync/run").status_code == 403
    assert db.session.scalar(db.select(db.func.count()).select_from(SyncRun)) == 0
