"""A merchant who installs EvoSync from Evotor's app store, in a real browser, in Russian: Evotor creates the
account and sends the token (the catalog is read at once), the welcome email's link sets the password and logs
in, the checklist points at VK, then VK is connected, a store switched on and the first sync publishes."""

from __future__ import annotations

import re

import pytest
import requests

from evosync.models import UserStatus
from evosync.services.accounts import find_user_by_email
from tests.factories import emails_to, link_in

pytestmark = pytest.mark.e2e

PARTNER_SECRET = "partner-secret-e2e-0123456789abcdef"
EVOTOR_USER = "01-000000030000001"
EVOTOR_TOKEN = "e2e-install-evotor-token"
VK_TOKEN = "e2e-install-vk-token"
GROUP_ID = 515151
PASSWORD = "Blue-Harbour-73"


def test_evotor_install_email_password_vk_first_sync(live_app, live_url, sandbox, new_page, screenshot):
    """Evotor install -> welcome email -> password -> connect VK -> first sync, with no JavaScript error."""
    live_app.config["EVOTOR_WEBHOOK_SECRET"] = PARTNER_SECRET
    sandbox.evotor.add_account(EVOTOR_TOKEN)
    sandbox.evotor.seed_catalog(EVOTOR_TOKEN, 5, n_stores=1, seed=7, with_images_ratio=0.0)
    sandbox.vk.add_user(VK_TOKEN)
    sandbox.vk.add_community(GROUP_ID, "Пекарня у дома", admin_tokens=(VK_TOKEN,))
    email = "baker@example.com"

    # Evotor calls our partner webhooks as the merchant installs the app (over real HTTP).
    auth = {"Authorization": f"Bearer {PARTNER_SECRET}"}
    created = requests.post(
        f"{live_url}/user/create", json={"userId": EVOTOR_USER, "customFields": {"email": email}}, headers=auth
    )
    assert created.status_code == 200 and created.json()["userId"] == EVOTOR_USER
    sent = requests.post(f"{live_url}/user/token", json={"userId": EVOTOR_USER, "token": EVOTOR_TOKEN}, headers=auth)
    assert sent.status_code == 200

    # The welcome email: its link asks for a name and a password, then the merchant is in.
    (welcome,) = emails_to(live_app, email)
    page = new_page()
    page.goto(live_url + link_in(welcome, "/invite"))
    screenshot(page, "evotor-welcome")
    page.fill("input[name=name]", "Мария")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password_confirm]", PASSWORD)
    page.click("main form [type=submit]")
    page.wait_for_url(re.compile(r"/profile$"))
    assert find_user_by_email(email).status == UserStatus.ACTIVE

    # Evotor is already connected (and its catalog read); the checklist's next step is VK.
    assert page.locator('#onboarding [data-step="evotor"]').get_attribute("data-done") == "yes"
    assert page.locator('#onboarding [data-step="vk"]').get_attribute("data-done") == "no"
    screenshot(page, "evotor-installed-profile")
    page.click('#onboarding [data-step="vk"] a')
    page.wait_for_url(re.compile(r"/connections#vk$"))

    page.fill("#vk input[name=token]", VK_TOKEN)
    page.fill("#vk input[name=group_id]", f"https://vk.com/club{GROUP_ID}")
    page.click("#vk form[action$='/connections/vk'] [type=submit]")
    page.wait_for_url(re.compile(r"/connections"))
    assert "Пекарня у дома" in page.locator("#vk").inner_text()

    # The catalog was mirrored when Evotor sent the token: the store is there to switch on.
    page.goto(f"{live_url}/catalog/stores")
    store_switch = page.locator("#stores-table .js-toggle-switch").first
    with page.expect_response(lambda r: r.request.method == "POST"):
        store_switch.check()

    page.goto(f"{live_url}/sync")
    page.click("#sync-now-form button")
    page.wait_for_url(re.compile(r"/sync$"))
    page.locator("#runs-table tr[data-run-id]").first.wait_for()
    assert page.locator("#runs-table [data-status]").first.get_attribute("data-status") == "succeeded"
    assert [item for item in sandbox.vk.items(GROUP_ID) if not item.get("deleted")]
    assert page.locator("#onboarding").count() == 0, "every step done"
    screenshot(page, "evotor-installed-first-sync")
    assert page.errors == [], "\n".join(page.errors)
