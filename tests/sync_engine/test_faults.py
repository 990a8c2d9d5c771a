"""Faults and crashes: repeated runs converge to the exact desired VK state, never with duplicates."""

import os
import signal
import subprocess
import sys
import time

from evosync.extensions import db
from evosync.models import RunStatus, SyncRun, VkConnection
from evosync.services.sync.runner import run_sync
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


def _unpause(user_id):
    """Flood control pauses the merchant for 30 minutes; the test lets that time pass."""
    conn = VkConnection.query.filter_by(user_id=user_id).one()
    conn.paused_until = None
    conn.state = "connected"
    db.session.commit()


def test_runs_converge_under_20_percent_vk_faults(fast_vk, sandbox):
    """With 20 % of VK requests failing (6, 9, 10, 5xx, answers dropped after the write), a few runs reach the
    exact desired state: nothing missing, nothing extra, no duplicates, right prices and albums."""
    fast_vk.config.update(VK_TIMEOUT=1.0)
    shop = open_shop(sandbox, n_products=60)
    sandbox.vk.faults.timeout_seconds = 1.3
    sandbox.vk.faults.configure(rate=0.2, kinds=("6", "9", "10", "5xx", "timeout", "drop_after_write"), seed=11)
    statuses = []
    for _ in range(8):
        run = run_sync(shop.user_id)
        statuses.append(run.status)
        _unpause(shop.user_id)
        # A write whose answer timed out lands when the emulator's held-back request ends (up to 1.3 s later, as
        # on VK it may land late): VK is judged once it has, and no late write falls into the clean run's count.
        assert sandbox.vk.settle(), "a faulted VK request never finished"
        if run.status == RunStatus.SUCCEEDED and not mismatches(sandbox, shop.user_id, shop.group_id):
            break
    assert mismatches(sandbox, shop.user_id, shop.group_id) == [], statuses
    assert sum(sandbox.vk.stats["faults"].values()) >= 2, "the faults really happened"
    sandbox.vk.faults.clear()
    writes, methods = sandbox.vk.stats["writes"], dict(sandbox.vk.stats["methods"])
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    called = {m: n - methods.get(m, 0) for m, n in sandbox.vk.stats["methods"].items() if n != methods.get(m, 0)}
    assert sandbox.vk.stats["writes"] == writes, f"converged: a clean re-run writes nothing (it called {called})"


def test_dropped_answer_after_create_is_adopted_not_duplicated(fast_vk, sandbox):
    """market.add applied by VK but its answer lost: the next pass finds the item by sku and adopts it."""
    shop = open_shop(sandbox, n_products=5)
    sandbox.vk.faults.push("drop_after_write", method="market.add")
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []


def test_run_killed_midway_resumes_without_duplicates(fast_vk, sandbox, tmp_path):
    """A process running the sync is killed with SIGKILL mid-way; the next run completes it with no duplicates."""
    shop = open_shop(sandbox, n_products=80)
    sandbox.vk.faults.slow_seconds = 0.25
    sandbox.vk.faults.configure(rate=1.0, kinds=("slow",), seed=1)
    app = fast_vk
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "EVOTOR_API_URL": sandbox.evotor_url,
        "VK_API_URL": sandbox.vk_url,
        "VK_RATE_LIMIT_PER_SECOND": "1000",
        "EVOSYNC_DOTENV": str(tmp_path / "none.env"),
    }
    code = (
        "from evosync import create_app\nfrom evosync.services.sync.runner import run_sync\n"
        f"app = create_app()\nwith app.app_context():\n    run_sync({shop.user_id})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(shop.vk_items()) < 20:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    sandbox.vk.faults.clear()
    half = len(shop.vk_items())
    assert 0 < half < 80, "killed mid-way"
    db.session.rollback()  # a fresh transaction sees what the killed process committed (MariaDB snapshots)
    stuck = SyncRun.query.filter_by(user_id=shop.user_id).one()
    assert stuck.status == RunStatus.RUNNING  # the killed run could not close itself
    # its lock dies with it after LOCK_TTL; here the next run is started once the lock is gone
    from evosync.redis_conn import get_redis
    from evosync.services.sync.runner import LOCK_KEY

    get_redis().delete(LOCK_KEY.format(user_id=shop.user_id))
    from evosync.services.sync.starts import request_sync

    run, created = request_sync(shop.user_id)  # runs inline in tests; the dead run does not swallow it
    assert created
    db.session.refresh(run)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    db.session.refresh(stuck)
    assert stuck.status == RunStatus.FAILED and "stopped" in stuck.error
