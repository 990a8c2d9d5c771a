"""A fair order between merchants (issue 24): a sync job whose time slice runs out queues its next run behind the
other merchants' syncs, and the Evotor event drainer goes ahead of queued syncs."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.jobs.sync import sync_job
from evosync.models import RunStatus, SyncRun
from evosync.queues import HIGH, get_queue
from evosync.sandbox.readings import Readings
from evosync.services.evotor_events.queue import DRAIN_JOB, wake_drainer
from evosync.services.sync.runner import run_sync
from evosync.services.sync.starts import SYNC_JOB, request_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

DEFAULT_ONLY = pytest.mark.parametrize("readings", [pytest.param(Readings(), id="readings-default")], indirect=True)


def _runs(user_id: int) -> list[SyncRun]:
    return list(db.session.scalars(db.select(SyncRun).filter_by(user_id=user_id).order_by(SyncRun.id)))


@DEFAULT_ONLY
def test_a_sliced_first_publication_ends_in_the_next_runs_with_every_product_once(fast_vk, sandbox, readings):
    """A slice shorter than one photo window: each run publishes one window (250 items) and queues the next run
    (inline here); together they publish the catalog exactly, and a later run writes nothing."""
    fast_vk.config["SYNC_SLICE_SECONDS"] = 0.001
    shop = open_shop(sandbox, n_products=320, seed=31)
    result = sync_job(shop.user_id)
    runs = _runs(shop.user_id)
    assert len(runs) >= 2 and result["continued_by"] == runs[1].id
    assert runs[0].details["continues"]["items_left"] > 0
    assert all(r.status == RunStatus.SUCCEEDED for r in runs), [(r.status, r.error) for r in runs]
    assert "continues" not in (runs[-1].details or {})
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert sum(r.created_count for r in runs) == len(shop.vk_items())
    writes = sandbox.vk.stats["writes"]
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert sandbox.vk.stats["writes"] == writes

    page = logged_in_client(fast_vk, shop.user).get(f"/sync/runs/{runs[0].id}").get_data(as_text=True)
    left = runs[0].details["continues"]["items_left"]
    assert 'id="run-continues"' in page and f"{left} more items follow in the next sync" in page


@DEFAULT_ONLY
def test_the_next_run_waits_behind_other_merchants_and_the_drainer_goes_first(fast_vk, sandbox, readings):
    """Queued for real (not inline): merchant B asked first, so A's continuation queues behind B's sync; an Evotor
    event drainer woken afterwards goes ahead of both."""
    fast_vk.config["SYNC_SLICE_SECONDS"] = 0.001
    big = open_shop(sandbox, n_products=300, seed=32)
    small = open_shop(sandbox, n_products=5, seed=33)
    fast_vk.config["RUN_JOBS_INLINE"] = False
    queue = get_queue(HIGH)
    queue.empty()
    small_run, created = request_sync(small.user_id)
    assert created
    result = sync_job(big.user_id)  # as a worker would run it
    assert "continued_by" in result
    wake_drainer()
    jobs = [queue.fetch_job(j) for j in queue.job_ids]
    order = [(j.func_name, j.args[:2]) for j in jobs]
    assert order == [
        (DRAIN_JOB, ()),
        (SYNC_JOB, (small.user_id, small_run.id)),
        (SYNC_JOB, (big.user_id, result["continued_by"])),
    ]
    queue.empty()
