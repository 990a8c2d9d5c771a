"""Real `worker.py` processes: parallel merchants, coalescing, a killed worker's lock, a burst of catalog events."""

from __future__ import annotations

import json
import signal

from rq import Queue, Worker
from rq.registry import ScheduledJobRegistry

from evosync.extensions import db
from evosync.models import EvotorConnection, LinkStatus, RunStatus, SyncLink, SyncRun, WebhookEvent
from evosync.redis_conn import get_redis
from evosync.services.sync.runner import LOCK_KEY, run_sync
from evosync.services.sync.starts import debounce_key, recover_stalled_syncs, request_sync
from tests.scheduling.conftest import WEBHOOK_SECRET, wait_for
from tests.scheduling.test_events import PATH, signed
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

FINISHED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.CANCELLED)


def _live_workers() -> int:
    return Worker.count(connection=get_redis())


def _run(run_id: int) -> SyncRun:
    return db.session.get(SyncRun, run_id)


def _stop(workers, proc) -> None:
    proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the current job, then exit
    workers.wait(proc, timeout=30)


def test_two_merchants_sync_in_parallel_while_a_second_request_coalesces(workers, jobs_app, sandbox, client):
    """Two workers run two merchants' syncs at the same time; asking again for the first merchant while its
    run is queued joins that run instead of adding one. Each VK market ends exactly as desired."""
    w1, w2 = workers.start("--queues", "high"), workers.start("--queues", "high")
    a, b = open_shop(sandbox, n_products=6), open_shop(sandbox, n_products=6)
    sandbox.vk.faults.slow_seconds = 0.2  # every VK request takes a while, so both runs are seen running
    sandbox.vk.faults.configure(rate=1.0, kinds=("slow",), seed=1)
    wait_for(lambda: _live_workers() == 2, timeout=60, what="two workers registered")
    assert client.get("/health").get_json()["workers"] == 2

    run_a, created_a = request_sync(a.user_id)
    run_b, created_b = request_sync(b.user_id)
    again, created_again = request_sync(a.user_id)
    assert created_a and created_b
    assert not created_again and again.id == run_a.id

    wait_for(
        lambda: _run(run_a.id).status == RunStatus.RUNNING and _run(run_b.id).status == RunStatus.RUNNING,
        timeout=60,
        what="both merchants' runs running at once",
    )
    wait_for(lambda: _run(run_a.id).status in FINISHED and _run(run_b.id).status in FINISHED, timeout=60)
    sandbox.vk.faults.clear()
    for shop, run_id in ((a, run_a.id), (b, run_b.id)):
        assert _run(run_id).status == RunStatus.SUCCEEDED, _run(run_id).error
        assert SyncRun.query.filter_by(user_id=shop.user_id).count() == 1
        assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    _stop(workers, w1)
    _stop(workers, w2)


def test_killed_worker_lock_expires_and_next_run_resumes(workers, jobs_app, sandbox):
    """SIGKILL a worker (and its work horse) mid-sync: the merchant's lock expires after JOB_LOCK_TTL_SECONDS,
    the stalled-run check requests a new run, and another worker completes it without duplicates."""
    jobs_app.config["JOB_LOCK_TTL_SECONDS"] = 2
    worker = workers.start("--queues", "high")
    shop = open_shop(sandbox, n_products=24)
    sandbox.vk.faults.slow_seconds = 0.3
    sandbox.vk.faults.configure(rate=1.0, kinds=("slow",), seed=2)
    run, _ = request_sync(shop.user_id)
    wait_for(lambda: _run(run.id).status == RunStatus.RUNNING, timeout=60, what="the first worker to take the run")
    survivor = workers.start("--queues", "high")  # starts up meanwhile; it finds nothing to do until the kill
    wait_for(lambda: _run(run.id).progress_done > 0, timeout=60, what="the sync to make progress")
    redis = get_redis()
    key = LOCK_KEY.format(user_id=shop.user_id)
    assert 0 < redis.pttl(key) <= 2000, "the worker holds the merchant's lock with the short TTL"

    workers.kill(worker)
    sandbox.vk.faults.clear()
    assert _run(run.id).status == RunStatus.RUNNING  # the dead run could not close itself
    assert mismatches(sandbox, shop.user_id, shop.group_id), "killed before it finished"
    wait_for(lambda: not redis.exists(key), timeout=5, what="the dead worker's lock to expire")

    recovered = recover_stalled_syncs()["recovered"][str(shop.user_id)]
    assert recovered["status"] == "requested"
    assert _run(run.id).status == RunStatus.FAILED and "stopped" in _run(run.id).error

    resumed = wait_for(
        lambda: _run(recovered["run_id"]).status in FINISHED and _run(recovered["run_id"]), timeout=60, what="resume"
    )
    assert resumed.trigger == "retry"
    assert resumed.status == RunStatus.SUCCEEDED, resumed.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    skus = [item["sku"] for item in shop.vk_items(live_only=False) if not item.get("deleted")]
    assert len(skus) == len(set(skus)), "no duplicate items"
    _stop(workers, survivor)


def test_burst_of_50_product_events_makes_one_sync_with_all_changes(workers, jobs_app, sandbox, client):
    """50 signed ProductEvents for one merchant, in a burst, are answered ``queued`` at once, applied by the
    worker's drainer, and become one sync SYNC_DEBOUNCE_SECONDS later that carries all 50 price changes to VK."""
    jobs_app.config["SYNC_DEBOUNCE_SECONDS"] = 4
    worker = workers.start("--queues", "high")
    shop = open_shop(sandbox, n_products=80)
    conn = EvotorConnection.query.filter_by(user_id=shop.user_id).one()
    conn.evotor_user_id = sandbox.evotor.user_id_for(shop.evotor_token)
    db.session.commit()
    first = run_sync(shop.user_id)
    assert first.status == RunStatus.SUCCEEDED, first.error
    links = SyncLink.query.filter_by(user_id=shop.user_id, status=LinkStatus.PUBLISHED).limit(50).all()
    assert len(links) == 50
    wait_for(lambda: _live_workers() == 1, timeout=60, what="the worker registered")

    answers = []
    for n, link in enumerate(links):
        current = sandbox.evotor.product(link.store_evotor_id, link.evotor_product_id)
        changed = sandbox.evotor.update_product(
            shop.evotor_token, link.store_evotor_id, link.evotor_product_id, price=float(current["price"]) + 7
        )
        event = {"id": f"burst-{n}", "type": "ProductEvent", "action": "updated", "payload": changed}
        body = json.dumps(event).encode()
        resp = client.post(PATH, data=body, headers=signed(body, WEBHOOK_SECRET))
        assert resp.status_code == 200, resp.data
        answers.append(resp.get_json()["status"])
    assert answers == ["queued"] * 50

    synced = wait_for(
        lambda: SyncRun.query.filter(SyncRun.trigger == "webhook", SyncRun.status.in_(FINISHED)).first(),
        timeout=60,
        what="the debounced sync",
    )
    assert synced.status == RunStatus.SUCCEEDED, synced.error
    assert synced.updated_count == 50
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert {e.status for e in WebhookEvent.query.filter(WebhookEvent.event_id.like("burst-%"))} == {"applied"}
    # nothing else is coming: no second run, no delayed job, no debounce marker
    redis = get_redis()
    assert SyncRun.query.filter_by(user_id=shop.user_id).count() == 2
    assert ScheduledJobRegistry("high", connection=redis).count == 0
    assert Queue("high", connection=redis).count == 0
    assert not redis.exists(debounce_key(shop.user_id))
    _stop(workers, worker)
