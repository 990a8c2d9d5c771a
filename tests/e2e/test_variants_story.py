"""In a real browser, in Russian: the community's extended mode is off, so the dashboard tells the merchant how to
switch it on; they do, press «Синхронизировать сейчас», and the T-shirt's variants show on the VK market page as one
card (the preview and the run page say "N вариантов → 1 карточка")."""

from __future__ import annotations

import re

import pytest

from evosync.models import RunStatus
from evosync.services.sync.runner import run_sync
from tests.e2e.test_admin_story import _log_in
from tests.sync_engine.conftest import open_shop

pytestmark = pytest.mark.e2e


def test_the_merchant_switches_the_mode_on_and_sees_one_card(live_app, live_url, sandbox, new_page, screenshot):
    shop = open_shop(sandbox, n_products=24)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED  # extended mode off: separate items
    assert sandbox.vk.groupings(shop.group_id) == {}
    items_before = sorted(i["id"] for i in shop.vk_items())

    page = new_page()
    _log_in(page, live_url, shop.user.email)
    page.wait_for_url(re.compile(r"/profile$"))
    page.goto(f"{live_url}/sync")
    notice = page.locator("#variants-notice")
    assert "Расширенные" in notice.inner_text() and "Синхронизировать сейчас" in notice.inner_text()
    screenshot(page, "dashboard-variants-notice")

    sandbox.vk.set_extended_mode(shop.group_id, True)  # the merchant does what the notice says, in VK
    page.locator("#sync-now-form button[type=submit]").click()
    page.wait_for_load_state()
    assert sandbox.vk.groupings(shop.group_id), "the run made the card"
    assert sorted(i["id"] for i in shop.vk_items()) == items_before, "the same items, grouped, none created again"
    page.goto(f"{live_url}/sync")
    assert page.locator("#variants-notice").count() == 0

    page.goto(f"{live_url}/vk-catalog/products")
    cards = page.locator(".vk-product .vk-card")
    assert cards.count() >= 2
    assert re.search(r"Одна карточка: \d+ вариант", cards.first.inner_text())
    screenshot(page, "vk-catalog-one-card")

    page.goto(f"{live_url}/sync/preview")  # nothing left to do, and the card is described
    assert re.search(r"\d+ вариант\w* → 1 карточка с 2 свойствами", page.locator("#preview-cards").inner_text())
    assert page.errors == []
