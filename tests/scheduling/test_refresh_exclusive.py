"""One way into a catalog refresh: "Refresh now" and the scheduled refresh of one merchant never run at once."""

from __future__ import annotations

import signal

from rq import Queue
from rq.job import Job

from evosync import locks
from evosync.jobs.catalog import refresh_catalog_job
from evosync.jobs.fanout import fanout_catalog_refresh
from evosync.queues import DEFAULT, HIGH, enqueue
from evosync.redis_conn import get_redis
from evosync.services.refreshes import REFRESH_CATALOG
from tests.factories import logged_in_client
from tests.scheduling.conftest import wait_for
from tests.sync_engine.conftest import open_shop


def _stores_reads(sandbox, since: int) -> int:
    return sum(1 for r in sandbox.evotor.logged_requests()[since:] if r["route"] == "GET /stores")


def test_refresh_now_and_the_scheduled_refresh_never_run_at_once(workers, jobs_app, sandbox):
    """The schedule's refresh runs on one worker (Evotor slowed); meanwhile the merchant presses "Refresh now": the
    request is answered and adds no job. Even a job forced onto the high queue behind the coalescing (a lost
    marker) finds the merchant's lock on the second worker and leaves without reading Evotor. Afterwards "Refresh
    now" runs again normally."""
    shop = open_shop(sandbox, n_products=5)
    w1, w2 = workers.start("--queues", "high", "default"), workers.start("--queues", "high", "default")
    sandbox.evotor.faults.slow_seconds = 0.5
    sandbox.evotor.faults.configure(rate=1.0, kinds=("slow",), seed=4)
    start = len(sandbox.evotor.logged_requests())

    assert fanout_catalog_refresh()["enqueued"] == [shop.user_id]
    wait_for(lambda: locks.is_locked(REFRESH_CATALOG, shop.user_id), timeout=60, what="the scheduled refresh to run")

    client = logged_in_client(jobs_app, shop.user)
    resp = client.post("/catalog/refresh", headers={"Accept": "application/json"})
    assert resp.status_code == 202 and resp.get_json()["ok"]
    assert Queue(HIGH, connection=get_redis()).count == 0, "the running refresh covers the request"

    forced = enqueue(refresh_catalog_job, shop.user_id, queue=HIGH, sync_after=False)
    wait_for(lambda: Job.fetch(forced.id, connection=get_redis()).is_finished, timeout=60, what="the forced job")
    assert Job.fetch(forced.id, connection=get_redis()).return_value()["status"] == "coalesced"
    assert locks.is_locked(REFRESH_CATALOG, shop.user_id), "the scheduled refresh was still running meanwhile"

    wait_for(lambda: not locks.is_locked(REFRESH_CATALOG, shop.user_id), timeout=60, what="the refresh to end")
    sandbox.evotor.faults.clear()
    assert _stores_reads(sandbox, start) == 1, "one refresh read Evotor, not two"

    wait_for(lambda: not locks.busy(REFRESH_CATALOG, shop.user_id), timeout=30, what="the queued marker to clear")
    resp = client.post("/catalog/refresh", headers={"Accept": "application/json"})
    assert resp.status_code == 202
    wait_for(lambda: _stores_reads(sandbox, start) == 2, timeout=60, what="the next Refresh now to read Evotor")
    assert Queue(DEFAULT, connection=get_redis()).count == 0
    for proc in (w1, w2):
        proc.send_signal(signal.SIGTERM)
        workers.wait(proc, timeout=30)
