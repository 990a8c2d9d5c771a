"""In a real browser, in Russian: VK's moderators reject an item; the merchant sees it under "Needs attention" on the
dashboard with VK's reason, finds it in the VK market page and sends it to moderation again."""

from __future__ import annotations

import re

import pytest

from evosync.models import RunStatus
from evosync.services.sync.runner import run_sync
from tests.e2e.test_admin_story import _log_in
from tests.sync_engine.conftest import open_shop

pytestmark = pytest.mark.e2e


def test_a_rejected_item_needs_attention_and_can_be_sent_again(live_app, live_url, sandbox, new_page, screenshot):
    shop = open_shop(sandbox, n_products=5)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    item = shop.vk_items()[0]
    sandbox.vk.reject_item(shop.group_id, item["id"], "Товар заблокирован", "Фото не соответствует товару")
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED

    page = new_page()
    _log_in(page, live_url, shop.user.email)
    page.wait_for_url(re.compile(r"/profile$"))
    page.goto(f"{live_url}/sync")
    attention = page.locator("#needs-attention")
    assert "Требует внимания" in attention.inner_text() or "внимани" in attention.inner_text().lower()
    assert "Фото не соответствует товару" in attention.inner_text()
    screenshot(page, "dashboard-needs-attention")

    page.goto(f"{live_url}/vk-catalog/products")
    card = page.locator(".vk-product", has_text="Фото не соответствует товару")
    card.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "модерацию" in page.locator(".alert").first.inner_text()
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    page.goto(f"{live_url}/sync")
    assert page.locator("#needs-attention").count() == 0
    assert page.errors == []
