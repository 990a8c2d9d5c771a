"""Bulk photos (issue 24): the bulk flow by default, and under each refusal of it the single flow, with every
product published once with its own photo, the refusal remembered for the merchant, and a re-sync writing nothing."""

from __future__ import annotations

import pytest

from evosync.models import RunStatus
from evosync.sandbox.readings import Readings
from evosync.services.sync import photo_flow
from evosync.services.sync.runner import run_sync
from tests.sync_engine.conftest import open_shop
from tests.sync_engine.expect import mismatches

BULK_READINGS = [
    pytest.param(Readings(), "bulk", id="bulk-accepted"),
    pytest.param(Readings(photo_bulk="unknown_method"), "single", id="bulk-method-unknown"),
    pytest.param(Readings(photo_bulk_max_files=2), "single", id="too-many-files"),
    pytest.param(Readings(photo_bulk_in_execute=False), "single", id="bulk-save-refused-in-execute"),
    pytest.param(Readings(upload_url_reuse=False), "bulk", id="upload-address-once"),
    pytest.param(
        Readings(upload_url_reuse=False, photo_bulk_in_execute=False, photo_saves_in_execute=False),
        "single",
        id="address-once-and-no-saves-in-execute",
    ),
]


@pytest.mark.parametrize(("readings", "flow"), BULK_READINGS, indirect=["readings"])
def test_every_product_gets_its_own_photo_under_each_bulk_reading(fast_vk, sandbox, readings, flow):
    shop = open_shop(sandbox, n_products=40, seed=11)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    items = [i for i in sandbox.vk.items(shop.group_id) if not i["deleted"]]
    photos = [i["main_photo_id"] for i in items]
    assert len(items) >= 35 and len(set(photos)) == len(photos), "one photo per item"
    assert run.details["photos"]["flow"] == flow
    methods = sandbox.vk.stats["methods"]
    assert methods["market.get"] == 2, "what VK refused was redone in the same pass: VK read before and after"
    if flow == "bulk":
        assert methods.get("market.saveProductPhotoBulk", 0) >= len(items) // 5
        assert methods.get("market.saveProductPhoto", 0) == 0
        assert photo_flow.single_flow_reason(shop.user_id) is None
    else:
        assert methods.get("market.saveProductPhoto", 0) >= len(items)
        assert photo_flow.single_flow_reason(shop.user_id), "the refusal is remembered for the merchant"
    writes = sandbox.vk.stats["writes"]
    again = run_sync(shop.user_id)
    assert again.status == RunStatus.SUCCEEDED
    assert again.details["photos"]["flow"] == flow, "the next run starts on the flow VK took"
    assert sandbox.vk.stats["writes"] == writes, "an unchanged re-sync writes nothing"


@pytest.mark.parametrize(
    "readings",
    [pytest.param(r.values[0], id=r.id) for r in BULK_READINGS if r.values[1] == "bulk"],  # bulk saves are sent
    indirect=True,
)
@pytest.mark.parametrize("code", [9, 14], ids=["flood-control", "captcha"])
def test_a_merchant_error_on_a_bulk_save_stops_the_run_without_leaving_the_bulk_flow(fast_vk, sandbox, code):
    """Flood control or a captcha on a bulk save inside execute is about the merchant, not the method: the run
    stops with words for the merchant, no refusal of the bulk flow is remembered, and the next run publishes in
    bulk what is left."""
    from evosync.extensions import db
    from evosync.models import VkConnection

    shop = open_shop(sandbox, n_products=40, seed=12)
    sandbox.vk.faults.push(f"call:{code}", method="market.saveProductPhotoBulk")
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.FAILED
    assert sandbox.vk.stats["faults"].get(f"call:{code}") == 1, "the fault hit one bulk save inside execute"
    assert photo_flow.single_flow_reason(shop.user_id) is None, "no refusal of the bulk flow remembered"
    assert sandbox.vk.stats["methods"].get("market.saveProductPhoto", 0) == 0, "nothing redone in the single flow"

    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=shop.user_id))
    conn.paused_until = None  # the flood pause over (a captcha leaves the connection as it was)
    db.session.commit()
    again = run_sync(shop.user_id)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert again.details["photos"]["flow"] == "bulk"
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
    assert sandbox.vk.stats["methods"].get("market.saveProductPhoto", 0) == 0


def test_without_redis_the_run_uses_the_single_flow(app):
    """Whether VK refused the bulk flow lately is in Redis; without Redis the run takes the flow VK always takes."""
    from evosync.redis_conn import make_redis
    from tests.services import free_port

    app.extensions["evosync_redis"] = make_redis(f"redis://127.0.0.1:{free_port()}/0")
    assert photo_flow.bulk_files_for(1) == 0
    photo_flow.remember_single_flow(1, "refused")  # logged, not raised
    assert photo_flow.single_flow_reason(1) is None


@pytest.mark.parametrize("files", [0, 1])
def test_bulk_files_below_two_is_the_single_flow(fast_vk, sandbox, files):
    """VK_PHOTO_BULK_FILES below 2 turns the bulk flow off: every photo by the single flow, nothing remembered."""
    fast_vk.config["VK_PHOTO_BULK_FILES"] = files
    shop = open_shop(sandbox, n_products=12, seed=13)
    run = run_sync(shop.user_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.details["photos"]["flow"] == "single"
    methods = sandbox.vk.stats["methods"]
    assert methods.get("market.saveProductPhotoBulk", 0) == 0
    assert methods.get("market.saveProductPhoto", 0) >= 10
    assert photo_flow.single_flow_reason(shop.user_id) is None
    assert mismatches(sandbox, shop.user_id, shop.group_id) == []
