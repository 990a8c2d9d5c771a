"""Fan-out: one job per active, connected merchant; skipped merchants carry a reason; requests coalesce."""

from __future__ import annotations

import datetime as dt
import time

from rq import Queue

from evosync import locks
from evosync.extensions import db
from evosync.jobs.catalog import refresh_catalog_job as scheduled_catalog_refresh_job
from evosync.jobs.fanout import fanout_catalog_refresh, fanout_vk_refresh
from evosync.models import (
    ConnectionState,
    EvotorConnection,
    RunStatus,
    SyncConfig,
    SyncRun,
    UserStatus,
    VkConnection,
    WebhookEvent,
    utcnow,
)
from evosync.redis_conn import get_redis
from evosync.services.housekeeping import run_housekeeping
from evosync.services.refreshes import REFRESH_CATALOG
from evosync.services.sync.starts import request_automatic_sync
from tests.factories import make_user
from tests.sync_engine.conftest import open_shop


def _merchant(evotor_state="connected", vk_state="connected", status=UserStatus.ACTIVE, evotor_paused=None,
              vk_paused=None):  # fmt: skip
    user = make_user(status=status)
    db.session.add_all(
        [
            EvotorConnection(user_id=user.id, access_token="e", state=evotor_state, paused_until=evotor_paused),
            VkConnection(user_id=user.id, access_token="v", group_id=1, state=vk_state, paused_until=vk_paused),
        ]
    )
    db.session.commit()
    return user.id


def _queued_user_ids(name: str) -> list[int]:
    return sorted(job.args[0] for job in Queue(name, connection=get_redis()).get_jobs())


def test_fanout_enqueues_one_job_per_eligible_merchant_with_reasons_for_the_rest(jobs_app):
    """Active merchants with live connections get one job each; suspended, broken and paused ones are skipped
    with a reason; a second fan-out while those jobs wait adds nothing (coalescing)."""
    later = utcnow() + dt.timedelta(minutes=30)
    ok = _merchant()
    suspended = _merchant(status=UserStatus.SUSPENDED)
    broken = _merchant(evotor_state=ConnectionState.BROKEN)
    evotor_paused = _merchant(evotor_paused=later)
    vk_paused = _merchant(vk_paused=later)
    not_connected = _merchant(evotor_state=ConnectionState.NOT_CONNECTED, vk_state=ConnectionState.NOT_CONNECTED)

    first = fanout_catalog_refresh()
    assert sorted(first["enqueued"]) == sorted([ok, vk_paused])  # VK's pause does not stop Evotor work
    skipped = first["skipped"]
    assert skipped[str(suspended)] == "account is suspended"
    assert skipped[str(broken)] == "Evotor connection is broken"
    assert "paused until" in skipped[str(evotor_paused)] and "rate limit" in skipped[str(evotor_paused)]
    assert skipped[str(not_connected)] == "Evotor is not connected"
    assert _queued_user_ids("default") == sorted([ok, vk_paused])

    second = fanout_catalog_refresh()
    assert second["enqueued"] == []
    assert second["skipped"][str(ok)] == "refresh catalog already queued"
    assert _queued_user_ids("default") == sorted([ok, vk_paused])

    vk = fanout_vk_refresh()
    assert sorted(vk["enqueued"]) == sorted([ok, evotor_paused, broken])  # Evotor's state does not stop VK work
    assert "flood control" in vk["skipped"][str(vk_paused)]
    assert vk["skipped"][str(suspended)] == "account is suspended"


def test_refresh_job_chains_the_sync_and_coalesces(jobs_app, sandbox):
    """The per-merchant refresh asks for a scheduled sync (auto-sync on); a second sync request joins that run;
    with the merchant's refresh lock held elsewhere the job coalesces; auto-sync off or VK paused skip the sync."""
    shop = open_shop(sandbox, n_products=5)
    result = scheduled_catalog_refresh_job(shop.user_id)
    assert result["status"] == "ok"
    assert result["sync"]["status"] == "requested"
    run = db.session.get(SyncRun, result["sync"]["run_id"])
    assert run.trigger == "schedule" and run.status == RunStatus.QUEUED
    assert _queued_user_ids("high") == [shop.user_id]

    again = request_automatic_sync(shop.user_id, "webhook")
    assert again == {"status": "joined", "run_id": run.id}
    assert _queued_user_ids("high") == [shop.user_id]

    with locks.merchant_lock(REFRESH_CATALOG, shop.user_id) as held:
        assert held
        assert scheduled_catalog_refresh_job(shop.user_id)["status"] == "coalesced"

    db.session.add(SyncConfig(user_id=shop.user_id, auto_sync=False))
    db.session.commit()
    assert request_automatic_sync(shop.user_id, "schedule") == {"status": "skipped", "reason": "automatic sync is off"}
    SyncConfig.query.filter_by(user_id=shop.user_id).one().auto_sync = True
    VkConnection.query.filter_by(user_id=shop.user_id).one().paused_until = utcnow() + dt.timedelta(minutes=5)
    db.session.commit()
    assert "flood control" in request_automatic_sync(shop.user_id, "schedule")["reason"]


def test_merchant_lock_expires_without_renewal_and_is_renewed_while_held(jobs_app):
    """A held lock outlives its TTL while its holder lives (renewed); a holder that vanished lets it expire."""
    jobs_app.config["JOB_LOCK_TTL_SECONDS"] = 1
    redis = get_redis()
    key = locks.lock_key(REFRESH_CATALOG, 42)
    with locks.merchant_lock(REFRESH_CATALOG, 42) as held:
        assert held
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # longer than the TTL: only renewal keeps it
            assert redis.exists(key)
            time.sleep(0.05)
        with locks.merchant_lock(REFRESH_CATALOG, 42) as second:
            assert not second
    assert not redis.exists(key)
    # a dead holder: the key as a killed worker leaves it, with nobody renewing
    redis.set(key, "dead-token", px=300)
    assert locks.busy(REFRESH_CATALOG, 42) == locks.RUNNING
    deadline = time.monotonic() + 2
    while redis.exists(key) and time.monotonic() < deadline:
        time.sleep(0.02)
    with locks.merchant_lock(REFRESH_CATALOG, 42) as held:
        assert held


def test_housekeeping_deletes_old_runs_and_event_ids(jobs_app):
    """Finished runs past SYNC_RUNS_KEEP_DAYS and event ids past WEBHOOK_EVENTS_KEEP_DAYS go; the rest stays."""
    user = make_user()
    old = utcnow() - dt.timedelta(days=200)
    db.session.add_all(
        [
            SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED, created_at=old, finished_at=old),
            SyncRun(user_id=user.id, status=RunStatus.FAILED, created_at=old),
            SyncRun(user_id=user.id, status=RunStatus.QUEUED, created_at=old),  # active: kept
            SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED),
            WebhookEvent(event_id="old", received_at=old),
            WebhookEvent(event_id="new"),
        ]
    )
    db.session.commit()
    result = run_housekeeping()
    assert result["runs_deleted"] == 2 and result["webhook_events_deleted"] == 1
    assert sorted(r.status for r in SyncRun.query.all()) == [RunStatus.QUEUED, RunStatus.SUCCEEDED]
    assert [e.event_id for e in WebhookEvent.query.all()] == ["new"]
    assert set(result["finished_jobs_cleaned"]) == {"high", "default", "low"}


def test_housekeeping_keeps_old_catalog_events_still_queued(jobs_app):
    """An event still waiting for the drainer is not deleted whatever its age (it has not been applied yet); old
    applied and failed ones go."""
    old = utcnow() - dt.timedelta(days=200)
    db.session.add_all(
        [
            WebhookEvent(event_id="old-queued", received_at=old, status="queued", body="{}"),
            WebhookEvent(event_id="old-applied", received_at=old, status="applied"),
            WebhookEvent(event_id="old-failed", received_at=old, status="failed", body="{}"),
        ]
    )
    db.session.commit()
    assert run_housekeeping()["webhook_events_deleted"] == 2
    assert [e.event_id for e in WebhookEvent.query.all()] == ["old-queued"]
