"""Database or Redis unreachable: friendly pages (no traceback), /health 503, nothing lost, jobs retried later.

A worker killed with SIGKILL in the middle of a sync is proven in
tests/scheduling/test_workers.py::test_killed_worker_lock_expires_and_next_run_resumes (real worker.py
processes) and tests/sync_engine/test_faults.py::test_run_killed_midway_resumes_without_duplicates.
"""

from __future__ import annotations

import datetime as dt

import pytest

from evosync import create_app
from evosync.extensions import db
from evosync.models import RunStatus, SyncRun
from evosync.redis_conn import make_redis
from evosync.services.sync.starts import recover_stalled_syncs
from tests.factories import logged_in_client
from tests.services import free_port
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

FRIENDLY_503 = "not reachable right now"


def _assert_friendly(resp, status: int = 503) -> None:
    body = resp.get_data(as_text=True)
    assert resp.status_code == status, (resp.status_code, body[:300])
    assert "Traceback" not in body and "sqlalchemy" not in body.lower() and "redis." not in body.lower()


def test_database_unreachable_gives_friendly_pages_and_health_503(app):
    """With the database gone (a MariaDB port nobody listens on), a logged-in merchant's pages, the login page
    and a form POST answer a plain 503 page saying nothing is lost; JSON paths answer 503 JSON; /health 503."""
    user_client = logged_in_client(app, __import__("tests.factories").factories.make_user())
    cookie = user_client.get_cookie("session").value
    config = {k: v for k, v in app.config.items() if k.isupper()}
    broken = create_app(
        {
            **config,
            "SQLALCHEMY_DATABASE_URI": f"mysql+pymysql://x:y@127.0.0.1:{free_port()}/none",
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    client = broken.test_client()
    client.set_cookie("session", cookie)
    client.get("/language/en")
    for url in ("/sync", "/connections", "/catalog/stores", "/profile", "/login"):
        resp = client.get(url, headers={"Accept": "text/html"})
        _assert_friendly(resp)
        assert FRIENDLY_503 in resp.get_data(as_text=True), url
    _assert_friendly(client.post("/sync/run", headers={"Accept": "text/html"}))
    health = broken.test_client().get("/health")  # a probe carries no session
    assert health.status_code == 503 and health.get_json()["database"] == "error"
    api = client.get("/api/sync/status")
    assert api.status_code == 503 and api.get_json()["errors"][0]["code"] == 503


@pytest.fixture
def queued_app(fast_vk):
    """Jobs go to Redis (as in production), not inline."""
    fast_vk.config["RUN_JOBS_INLINE"] = False
    return fast_vk


def test_redis_unreachable_keeps_the_sync_request_and_retries_it_later(queued_app, sandbox):
    """Redis down: "Sync now" answers a friendly 503 page, yet the request is kept (a queued run in the
    database); /health says 503. When Redis is back, the periodic recovery requests it again and the sync
    reaches the exact desired VK state."""
    app = queued_app
    shop = open_shop(sandbox, n_products=8)
    web = logged_in_client(app, shop.user)
    web.get("/language/en")
    good_redis = app.extensions["evosync_redis"]
    app.extensions["evosync_redis"] = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        resp = web.post("/sync/run", headers={"Accept": "text/html"})
        _assert_friendly(resp)
        assert FRIENDLY_503 in resp.get_data(as_text=True)
        assert web.get("/health").status_code == 503
        dashboard = web.get("/sync")
        assert dashboard.status_code in (200, 503) and b"Traceback" not in dashboard.data
    finally:
        app.extensions["evosync_redis"] = good_redis
    db.session.rollback()
    kept = SyncRun.query.filter_by(user_id=shop.user_id).one()
    assert kept.status == RunStatus.QUEUED, "the merchant's request is not lost"

    # Redis is back; minutes pass; the scheduler's periodic recovery finds the run whose job never got queued.
    kept.created_at = kept.created_at - dt.timedelta(minutes=10)
    db.session.commit()
    app.config["RUN_JOBS_INLINE"] = True  # the retried job runs right here, as a worker would
    recovered = recover_stalled_syncs()["recovered"]
    assert str(shop.user_id) in recovered, recovered
    db.session.rollback()
    runs = SyncRun.query.filter_by(user_id=shop.user_id).order_by(SyncRun.id).all()
    assert runs[0].status == RunStatus.FAILED
    assert runs[-1].status == RunStatus.SUCCEEDED, runs[-1].error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
