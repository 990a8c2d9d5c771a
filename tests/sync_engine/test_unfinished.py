"""A run whose last pass still finds work (VK's answers lost to the end) does not call itself a success: it ends
partial, names each product it could not confirm, and one follow-up sync finishes the job."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.jobs.sync import sync_job
from evosync.models import RunStatus, SyncLink, SyncRun
from evosync.sandbox.readings import Readings
from evosync.services.sync.runner import MAX_PASSES, UNCONFIRMED, run_sync
from tests.factories import logged_in_client
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

DEFAULT_ONLY = pytest.mark.parametrize("readings", [pytest.param(Readings(), id="readings-default")], indirect=True)


def _runs(user_id: int) -> list[SyncRun]:
    return list(db.session.scalars(db.select(SyncRun).filter_by(user_id=user_id).order_by(SyncRun.id)))


@DEFAULT_ONLY
def test_a_run_vk_leaves_unfinished_says_so_and_one_follow_up_finishes_it(fast_vk, sandbox, readings):
    shop = open_shop(sandbox, n_products=8, seed=41)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    link = SyncLink.query.filter(SyncLink.user_id == shop.user_id, SyncLink.vk_item_id.is_not(None)).first()
    sandbox.evotor.update_product(shop.evotor_token, link.store_evotor_id, link.evotor_product_id, price=777)
    shop.refresh()
    for _ in range(MAX_PASSES):  # every pass's edit batch answered 502: nothing of it applied
        sandbox.vk.faults.push("5xx", method="market.edit")

    result = sync_job(shop.user_id)  # jobs run inline here: the follow-up runs at once

    first, follow_up = _runs(shop.user_id)[-2:]
    assert first.status == RunStatus.PARTIAL, first.error
    assert first.details["unfinished"] == 1
    assert first.failed_count == 1
    assert first.details["failures"] == [
        {
            "key": f"{link.store_evotor_id}:{link.evotor_product_id}",
            "title": first.details["failures"][0]["title"],
            "reason": UNCONFIRMED,
        }
    ]
    assert result["follow_up"] == "scheduled"
    assert follow_up.trigger == "retry"
    assert follow_up.status == RunStatus.SUCCEEDED and follow_up.updated_count == 1
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    item = next(i for i in shop.vk_items() if i["id"] == link.vk_item_id)
    assert item["price"] == "77700", item["price"]

    client = logged_in_client(fast_vk, shop.user)
    page = client.get(f"/sync/runs/{first.id}").get_data(as_text=True)
    assert 'id="run-unfinished"' in page and "VK did not confirm 1 change in time" in page
    assert "The next sync checks it and finishes it." in page  # the product's own line in the failures table
    assert 'id="run-unfinished"' not in client.get(f"/sync/runs/{follow_up.id}").get_data(as_text=True)


@DEFAULT_ONLY
def test_a_follow_up_left_unfinished_asks_for_no_other(fast_vk, sandbox, readings):
    """The follow-up (trigger ``retry``) is the only one: were VK still losing answers, the hourly sync comes next,
    not a loop of syncs."""
    shop = open_shop(sandbox, n_products=5, seed=42)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    link = SyncLink.query.filter(SyncLink.user_id == shop.user_id, SyncLink.vk_item_id.is_not(None)).first()
    sandbox.evotor.update_product(shop.evotor_token, link.store_evotor_id, link.evotor_product_id, price=555)
    shop.refresh()
    for _ in range(2 * MAX_PASSES):
        sandbox.vk.faults.push("5xx", method="market.edit")

    result = sync_job(shop.user_id)

    runs = _runs(shop.user_id)
    assert result["follow_up"] == "scheduled" and len(runs) == 3
    assert [r.status for r in runs[1:]] == [RunStatus.PARTIAL, RunStatus.PARTIAL]
    assert runs[-1].trigger == "retry" and runs[-1].details["unfinished"] == 1
    assert not sandbox.vk.faults.pending  # both runs used up their faults: each made its passes, no third run


@DEFAULT_ONLY
def test_a_product_vk_refuses_is_not_unfinished_and_asks_for_no_follow_up(fast_vk, sandbox, readings):
    """VK answered the edit with an error of its own every pass: the product is listed with VK's error (another
    sync would not help), and nothing is "unconfirmed"."""
    shop = open_shop(sandbox, n_products=5, seed=43)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    link = SyncLink.query.filter(SyncLink.user_id == shop.user_id, SyncLink.vk_item_id.is_not(None)).first()
    sandbox.evotor.update_product(shop.evotor_token, link.store_evotor_id, link.evotor_product_id, price=333)
    shop.refresh()
    for _ in range(MAX_PASSES):
        sandbox.vk.faults.push("call:100", method="market.edit")

    result = sync_job(shop.user_id)

    run = _runs(shop.user_id)[-1]
    assert run.status == RunStatus.PARTIAL and "follow_up" not in result
    assert "unfinished" not in run.details
    [failure] = run.details["failures"]
    assert failure["reason"].startswith("VK error 100")
