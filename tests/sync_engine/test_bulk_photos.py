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
