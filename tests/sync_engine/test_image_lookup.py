"""The right photo the first time (issue 24): a sync looks up every Evotor image still due of the items it makes
photos for, at Evotor's pace, before they are published; what Evotor's 429 keeps it from looking up is put right
by one refresh and sync right after Evotor's pause, not refresh after hourly refresh."""

from __future__ import annotations

import datetime as dt

import pytest

from evosync.extensions import db
from evosync.jobs.catalog import refresh_catalog_job
from evosync.models import CachedProduct, EvotorConnection, RunStatus, SyncLink, utcnow
from evosync.queues import DEFAULT, get_queue
from evosync.sandbox.readings import Readings
from evosync.services.evotor_pace import learnt_rate
from evosync.services.refreshes import CATALOG_JOB
from evosync.services.sync.loader import image_key
from evosync.services.sync.runner import run_sync
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches


def _new_shop(app, sandbox, n_products: int = 40):
    """A merchant whose first refresh looked up no image (as 9,000 of 10,000 were not, in the issue)."""
    app.config["EVOTOR_IMAGE_CHECKS_PER_REFRESH"] = 0
    shop = open_shop(sandbox, n_products=n_products, seed=21)
    app.config["EVOTOR_IMAGE_CHECKS_PER_REFRESH"] = 1000
    due = db.session.scalar(
        db.select(db.func.count()).select_from(CachedProduct).filter_by(user_id=shop.user_id, image_checked_for=None)
    )
    assert due == n_products, "no image looked up yet"
    return shop


def _photos(shop) -> tuple[int, int, list]:
    """(published items with their Evotor image, published with the default photo, items whose photo is wrong)."""
    rows = db.session.scalars(db.select(CachedProduct).filter_by(user_id=shop.user_id))
    products = {(c.store_evotor_id, c.evotor_id): c for c in rows}
    own = default = 0
    wrong = []
    for link in db.session.scalars(db.select(SyncLink).filter_by(user_id=shop.user_id)):
        if not link.vk_item_id:
            continue
        product = products[(link.store_evotor_id, link.evotor_product_id)]
        expected = image_key(product.image_id, product.image_updated_at) or "default"
        if product.image_checked_for is None or link.photo_hash != expected:
            wrong.append((product.evotor_id, product.image_checked_for, link.photo_hash, expected))
        elif expected == "default":
            default += 1
        else:
            own += 1
    return own, default, wrong


def _quiet_resync(shop, sandbox) -> None:
    """An unchanged refresh and re-sync write nothing to VK."""
    writes = sandbox.vk.stats["writes"]
    shop.refresh()
    again = run_sync(shop.user_id)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert sandbox.vk.stats["writes"] == writes, "an unchanged refresh and re-sync wrote to VK"


def test_every_image_is_looked_up_before_its_item_is_first_published(fast_vk, sandbox):
    shop = _new_shop(fast_vk, sandbox)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    own, default, wrong = _photos(shop)
    assert wrong == [], "every item published with the image Evotor has"
    assert own >= 5, "products with images got their own photo the first time"
    assert run.details["images"]["looked_up"] == own + default
    _quiet_resync(shop, sandbox)


@pytest.mark.parametrize("readings", [pytest.param(Readings(), id="retry-after-seconds")], indirect=True)
def test_a_short_429_is_waited_out_and_evotors_rate_learnt(fast_vk, sandbox, readings):
    """Evotor takes 5 requests/s, our setting says 40: its 429s (Retry-After: 1) halve the pace, remembered, and
    every image is still looked up before its item is published."""
    shop = _new_shop(fast_vk, sandbox, n_products=30)
    sandbox.evotor.rate_limit_per_second = 5
    sandbox.evotor.retry_after_seconds = 1
    fast_vk.config["EVOTOR_RATE_LIMIT_PER_SECOND"] = 40
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert sandbox.evotor.rate_limited >= 1, "Evotor's limit was really met"
    assert learnt_rate(shop.evotor_token) is not None and learnt_rate(shop.evotor_token) <= 20
    own, _default, wrong = _photos(shop)
    assert wrong == [] and own >= 3
    assert run.details["images"]["stopped_for_seconds"] is None
    _quiet_resync(shop, sandbox)


@pytest.mark.parametrize(
    "readings", [pytest.param(Readings(evotor_retry_after="absent"), id="retry-after-absent")], indirect=True
)
def test_a_long_429_publishes_now_and_puts_the_photos_right_after_evotors_pause(fast_vk, sandbox, readings):
    """A 429 without Retry-After means Evotor's 30 minutes: the items left go out with the default photo now, Evotor
    is paused, and one refresh of every image due (then a sync) is scheduled for the pause's end; run then, it puts
    every photo right, and the next unchanged refresh and re-sync write nothing."""
    fast_vk.config["RUN_JOBS_INLINE"] = False  # to see the job scheduled, not run
    shop = _new_shop(fast_vk, sandbox, n_products=30)
    sandbox.evotor.rate_limit_per_second = 3
    fast_vk.config["EVOTOR_RATE_LIMIT_PER_SECOND"] = 40
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == [], "every item published all the same"
    assert run.details["images"]["stopped_for_seconds"] == 1800
    conn = db.session.scalar(db.select(EvotorConnection).filter_by(user_id=shop.user_id))
    assert conn.paused_until is not None and conn.paused_until > utcnow() + dt.timedelta(minutes=29)
    queue = get_queue(DEFAULT)
    jobs = [queue.fetch_job(j) for j in queue.scheduled_job_registry.get_job_ids()]
    follow_up = [j for j in jobs if j and j.func_name == CATALOG_JOB and j.kwargs.get("all_images")]
    assert len(follow_up) == 1 and follow_up[0].args == (shop.user_id,)
    _own, _default, waiting = _photos(shop)
    assert waiting, "some images were left for after the pause"
    assert all(checked is None and photo == "default" for _id, checked, photo, _exp in waiting)

    # Evotor's pause is over: the scheduled job runs.
    conn.paused_until = None
    db.session.commit()
    sandbox.evotor.rate_limit_per_second = 0
    fast_vk.config["RUN_JOBS_INLINE"] = True
    result = refresh_catalog_job(shop.user_id, sync_after=False, all_images=True)
    assert result["status"] == "ok" and result["images_pending"] == 0, result
    fixed = run_sync(shop.user_id)
    assert fixed.status == RunStatus.SUCCEEDED, fixed.error
    own, _default, wrong = _photos(shop)
    assert wrong == [] and own >= 3
    _quiet_resync(shop, sandbox)
