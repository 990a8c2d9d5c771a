"""The merchant's whole story in a real browser, in Russian: register, confirm by email, log in, connect Evotor and VK
with the inline Test buttons, enable a store, Sync now, see the result and the items in the VK catalog pages."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD, emails_to, link_in
from tests.readings import parametrize_with_profiles


def pytest_generate_tests(metafunc):
    """Every test here that talks to the sandbox runs under each set of readings (tests/readings.py)."""
    parametrize_with_profiles(metafunc)


pytestmark = pytest.mark.e2e

EVOTOR_TOKEN = "e2e-evotor-token-0001"
VK_TOKEN = "e2e-vk-token-0001"
GROUP_ID = 424242
N_PRODUCTS = 8


def _shop_in_sandbox(sandbox) -> None:
    sandbox.evotor.add_account(EVOTOR_TOKEN)
    sandbox.evotor.seed_catalog(EVOTOR_TOKEN, N_PRODUCTS, n_stores=1, seed=5, with_images_ratio=0.25)
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Цветочная лавка", admin_tokens=(VK_TOKEN,))


def test_merchant_registers_connects_syncs_and_sees_vk_items(live_app, live_url, sandbox, new_page, screenshot):
    """From an empty account to products in VK, through the pages a merchant uses, with no JavaScript error."""
    _shop_in_sandbox(sandbox)
    email = "florist@example.com"
    page = new_page()

    # Register, in Russian.
    page.goto(f"{live_url}/register")
    assert page.locator("html").get_attribute("lang") == "ru"
    screenshot(page, "register")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_confirm]", PASSWORD)
    page.click("form[name=register_user_form] [type=submit]")
    page.wait_for_url(re.compile(r"/login"))

    # Confirm from the email (the locmem outbox), then log in.
    (message,) = emails_to(live_app, email)
    page.goto(live_url + link_in(message, "/confirm-email"))
    page.wait_for_url(re.compile(r"/login"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/profile$"))

    # The checklist leads the way: nothing done yet, the first step links to the Evotor connection.
    checklist = page.locator("#onboarding")
    assert "С чего начать" in checklist.inner_text()
    assert page.locator('#onboarding [data-done="no"]').count() == 4
    screenshot(page, "profile")
    page.click('#onboarding [data-step="evotor"] a')
    page.wait_for_url(re.compile(r"/connections#evotor$"))
    assert page.locator("h1").inner_text() == "Подключения"

    # Evotor: save the token, then the inline Test answers in place.
    page.fill("#evotor input[name=token]", EVOTOR_TOKEN)
    page.click("#evotor form[action$='/connections/evotor'] [type=submit]")
    page.wait_for_url(re.compile(r"/connections"))
    page.evaluate("window.__samePage = true")
    page.click("#evotor form[data-inline-test] button")
    page.locator("#evotor-test-result .alert-success").wait_for()
    assert page.evaluate("window.__samePage") is True, "the Test answer came without a reload"

    # VK: token and community, then Test.
    page.fill("#vk input[name=token]", VK_TOKEN)
    page.fill("#vk input[name=group_id]", f"https://vk.com/club{GROUP_ID}")
    page.click("#vk form[action$='/connections/vk'] [type=submit]")
    page.wait_for_url(re.compile(r"/connections"))
    page.evaluate("window.__samePage = true")
    page.click("#vk form[data-inline-test] button")
    page.locator("#vk-test-result .alert-success").wait_for()
    assert page.evaluate("window.__samePage") is True
    assert "Цветочная лавка" in page.locator("#vk").inner_text()
    assert EVOTOR_TOKEN not in page.content() and VK_TOKEN not in page.content(), "tokens are shown masked"
    screenshot(page, "connections")

    # Choose the store: read the catalog if it was not read yet, then switch the store on (no reload).
    page.goto(f"{live_url}/catalog/stores")
    if page.locator("#stores-table").count() == 0:  # the connection check does not read the catalog itself
        page.click("main form[action$='/catalog/refresh'] button.btn-primary")
        page.locator("#stores-table").wait_for()
    store_switch = page.locator("#stores-table .js-toggle-switch").first
    with page.expect_response(lambda r: "/toggle" in r.url or r.request.method == "POST"):
        store_switch.check()
    assert store_switch.is_checked()
    page.reload()
    assert page.locator("#stores-table .js-toggle-switch").first.is_checked(), "the choice was saved"
    screenshot(page, "catalog")

    # Sync now from the dashboard; the checklist says only the first sync is left.
    page.goto(f"{live_url}/sync")
    assert page.locator('#onboarding [data-step="first_sync"]').get_attribute("data-done") == "no"
    assert page.locator('#onboarding [data-done="yes"]').count() == 3
    page.click("#sync-now-form button")
    page.wait_for_url(re.compile(r"/sync$"))
    # Jobs run inline here, so the run has finished by the time the page is back: the result is on the page.
    page.locator("#runs-table tr[data-run-id]").first.wait_for()
    assert page.locator("#runs-table [data-status]").first.get_attribute("data-status") == "succeeded"
    in_vk = [item for item in sandbox.vk.items(GROUP_ID) if not item.get("deleted")]
    assert len(in_vk) > 0
    assert page.locator("#published-count").inner_text() == str(len(in_vk))
    assert page.locator("#runs-chart rect").count() >= 1, "the chart of recent runs is drawn"
    assert page.locator("#onboarding").count() == 0, "every step done: the checklist is gone"
    screenshot(page, "dashboard")

    # The VK catalog pages: read the market from VK, then see every item.
    page.goto(f"{live_url}/vk-catalog/albums")
    refresh = page.locator("form[action$='/vk-catalog/refresh'] button")
    if refresh.count():
        refresh.first.click()
        page.wait_for_load_state()
    screenshot(page, "vk-albums")
    page.goto(f"{live_url}/vk-catalog/products")
    cards = page.locator(".vk-product")
    assert cards.count() == len(in_vk)
    published = {item["title"] for item in in_vk}
    shown = {title.strip() for title in page.locator(".vk-product .card-title").all_inner_texts()}
    assert shown == published
    screenshot(page, "vk-products")

    assert page.errors == [], "\n".join(page.errors)
