"""The sync pages render for merchants with and without connections, and Sync now runs a sync."""

from __future__ import annotations

from evosync.extensions import db
from evosync.models import RunStatus, SyncRun
from tests.factories import logged_in_client, make_user
from tests.sync_web.conftest import html


def test_pages_render_without_connections(fast_vk):
    """A new merchant sees every sync page, with onboarding hints that point to Connections and the catalog."""
    web = logged_in_client(fast_vk, make_user())
    page = html(web.get("/sync"))
    assert 'id="onboarding"' in page
    assert 'href="/connections"' in page and 'href="/catalog/stores"' in page
    assert "No sync has run yet" in page
    preview = web.get("/sync/preview")
    assert preview.status_code == 200
    assert "Connect your VK community" in html(preview)
    settings = web.get("/sync/settings")
    assert settings.status_code == 200
    assert 'name="markup_percent"' in html(settings)
    assert 'id="categories-fallback"' in html(settings), "no VK connection: the built-in category list is shown"


def test_pages_render_for_a_connected_shop(web, shop):
    """With both connections and an enabled store only the first sync is left to do; preview and settings render."""
    page = html(web.get("/sync"))
    assert 'data-step="stores" data-done="yes"' in page and 'data-step="first_sync" data-done="no"' in page
    assert "Sync now" in page
    assert web.get("/sync/preview").status_code == 200
    settings = html(web.get("/sync/settings"))
    assert 'id="categories-fallback"' not in settings, "the categories came from VK"
    assert "Напитки" in settings


def test_sync_now_runs_the_sync_and_the_run_page_shows_counts(web, shop):
    """Sync now (inline jobs in tests) publishes the shop; the run page shows what was published."""
    resp = web.post("/sync/run")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/sync")
    run = db.session.scalar(db.select(SyncRun).filter_by(user_id=shop.user_id))
    assert run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL), run.error
    assert run.created_count == len(shop.vk_items()) > 0
    dashboard = html(web.get("/sync"))
    assert "Sync finished" in dashboard
    assert 'id="onboarding"' not in dashboard, "every getting-started step is done"
    assert f'data-run-id="{run.id}"' in dashboard and 'id="runs-chart"' in dashboard
    page = html(web.get(f"/sync/runs/{run.id}"))
    assert f'<dd class="col-sm-8" data-count="created">{run.created_count}</dd>' in page
    assert f'data-count="api_requests">{run.api_requests}' in page and run.api_requests > 0


def test_second_sync_now_joins_the_queued_run(web, shop):
    """While a run is queued, Sync now does not start another one: it answers with the queued run."""
    queued = SyncRun(user_id=shop.user_id, trigger="schedule", status=RunStatus.QUEUED)
    db.session.add(queued)
    db.session.commit()
    resp = web.post("/sync/run", headers={"Accept": "application/json"})
    assert resp.status_code == 200
    assert resp.get_json() == {"run_id": queued.id, "status": "queued", "created": False}
    resp = web.post("/sync/run", follow_redirects=True)
    assert "A sync is already running; your request joins it." in html(resp)
    assert db.session.scalar(db.select(db.func.count()).select_from(SyncRun)) == 1
    assert shop.sandbox.vk.stats["writes"] == 0


def test_sync_now_answers_json_when_asked(web, shop):
    """A fetch() client gets {run_id, status, created} instead of a redirect."""
    resp = web.post("/sync/run", headers={"Accept": "application/json"})
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["created"] is True and body["status"] in ("succeeded", "partial")
    assert db.session.get(SyncRun, body["run_id"]).user_id == shop.user_id
