"""The periodic schedule: registered once across restarts, removed entries disappear, the scheduler ticks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from rq import Queue

from evosync.heartbeat import LAST_TICK_KEY, last_tick
from evosync.jobs.fanout import fanout_catalog_refresh
from evosync.jobs.schedule import (
    make_scheduler,
    periodic_jobs,
    reconcile,
    reconcile_schedule,
    scheduled_periodic_ids,
)
from evosync.redis_conn import get_redis

ALL_IDS = [
    "periodic-apply_catalog_events",
    "periodic-check_incidents",
    "periodic-housekeeping",
    "periodic-poll_vk_orders",
    "periodic-recover_stalled_syncs",
    "periodic-refresh_catalog",
    "periodic-refresh_vk_catalog",
]


def _scheduled_times(scheduler) -> dict[str, dt.datetime]:
    return {job.id: when for job, when in scheduler.get_jobs(with_times=True)}


def test_schedule_entries_follow_the_config(app):
    """refresh_catalog and refresh_vk_catalog run every CATALOG_REFRESH_INTERVAL_SECONDS, housekeeping daily."""
    app.config["CATALOG_REFRESH_INTERVAL_SECONDS"] = 900
    entries = {e.name: e for e in periodic_jobs(app.config)}
    assert entries["refresh_catalog"].interval == entries["refresh_vk_catalog"].interval == 900
    assert entries["housekeeping"].interval == 24 * 3600
    assert entries["refresh_catalog"].func is fanout_catalog_refresh
    assert all(e.timeout > 0 for e in entries.values())


def test_restart_registers_periodic_jobs_once(workers, jobs_app):
    """A first start registers every entry; a restart (scheduler.py in another process) adds and moves nothing."""
    redis = get_redis()
    first = reconcile_schedule(redis, jobs_app.config)
    assert sorted(first.added) == sorted(e.name for e in periodic_jobs(jobs_app.config))
    scheduler = make_scheduler(redis)
    before = _scheduled_times(scheduler)

    restart = workers.run_script("scheduler.py", "--reconcile-only")
    assert restart.returncode == 0, restart.stderr[-2000:]
    outcome = json.loads(restart.stdout.strip().splitlines()[-1])
    assert outcome["added"] == [] and outcome["replaced"] == [] and outcome["removed"] == []
    assert sorted(outcome["kept"]) == sorted(first.added)

    assert scheduled_periodic_ids(scheduler) == ALL_IDS
    assert redis.zcard(scheduler.scheduled_jobs_key) == len(ALL_IDS)
    assert _scheduled_times(scheduler) == before, "a restart keeps each job's next run time"


def test_removed_and_changed_entries_are_reconciled(app):
    """Dropping an entry removes its job, changing one replaces it, and a stray repeating job is removed."""
    redis = get_redis()
    scheduler = make_scheduler(redis)
    entries = periodic_jobs(app.config)
    reconcile(scheduler, entries)
    scheduler.schedule(dt.datetime.now(dt.UTC), fanout_catalog_refresh, interval=60, id="legacy-hourly")

    fewer = [e for e in entries if e.name != "housekeeping"]
    fewer = [dataclasses.replace(e, interval=120) if e.name == "refresh_vk_catalog" else e for e in fewer]
    result = reconcile(scheduler, fewer)

    assert sorted(result.removed) == ["housekeeping", "legacy-hourly"]
    assert result.replaced == ["refresh_vk_catalog"]
    assert sorted(result.kept) == [
        "apply_catalog_events",
        "check_incidents",
        "poll_vk_orders",
        "recover_stalled_syncs",
        "refresh_catalog",
    ]
    assert scheduled_periodic_ids(scheduler) == [i for i in ALL_IDS if i != "periodic-housekeeping"]
    vk_job = next(j for j in scheduler.get_jobs() if j.id == "periodic-refresh_vk_catalog")
    assert vk_job.meta["interval"] == 120

    again = reconcile(scheduler, fewer)
    assert again.added == again.replaced == again.removed == []


def test_scheduler_tick_moves_due_jobs_and_health_reports_it(app, client):
    """A tick enqueues the due periodic jobs on their queues and leaves a heartbeat that /health shows."""
    redis = get_redis()
    assert last_tick(redis) is None
    body = client.get("/health").get_json()
    assert body["scheduler"]["last_tick"] is None
    assert body["queues"] == {"high": 0, "default": 0, "low": 0}

    scheduler = make_scheduler(redis)
    reconcile(scheduler, periodic_jobs(app.config))
    scheduler.enqueue_jobs()  # what each loop of scheduler.run() does

    assert redis.exists(LAST_TICK_KEY)
    assert Queue("default", connection=redis).count == 4
    assert Queue("high", connection=redis).count == 2  # the catalog events sweep and the VK orders poll
    assert Queue("low", connection=redis).count == 1
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["queues"] == {"high": 2, "default": 4, "low": 1}
    assert body["workers"] == 0
    assert body["scheduler"]["seconds_ago"] < 60
    health_doc = client.get("/openapi.json").get_json()["paths"]["/health"]["get"]["responses"]["200"]
    assert {"queues", "workers", "scheduler"} <= set(health_doc["content"]["application/json"]["schema"]["properties"])
    # the periodic jobs are back in the schedule for their next run
    assert scheduled_periodic_ids(scheduler) == ALL_IDS
