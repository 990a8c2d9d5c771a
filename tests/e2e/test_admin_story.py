"""The admin's story in a real browser, in Russian: suspend a merchant in /admin/users; the merchant is logged out and
cannot log in again."""

from __future__ import annotations

import re

import pytest

from evosync.extensions import db
from evosync.models import User, UserStatus
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e


def _log_in(page, live_url: str, email: str) -> None:
    page.goto(f"{live_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")


def test_admin_suspends_a_merchant_who_then_cannot_log_in(live_app, live_url, new_page, screenshot):
    """The merchant is logged in; the admin suspends them from the user's page; their next page asks them to log in,
    and logging in is refused with a message."""
    merchant = make_user(email="shop-owner@example.com", name="Анна")
    admin = make_user(email="boss@example.com", roles=("admin",), name="Борис")
    merchant_id = merchant.id

    shop = new_page()
    _log_in(shop, live_url, merchant.email)
    shop.wait_for_url(re.compile(r"/profile$"))

    office = new_page()
    _log_in(office, live_url, admin.email)
    office.wait_for_url(re.compile(r"/profile$"))
    office.goto(f"{live_url}/admin/users/")
    row_link = office.locator(f"a:text-is('{merchant.email}')")
    screenshot(office, "admin-users")
    row_link.click()
    office.wait_for_url(re.compile(rf"/admin/users/{merchant_id}"))
    office.click("form[action$='/suspend'] button")
    office.wait_for_load_state()
    assert "shop-owner@example.com" in office.locator(".alert").first.inner_text()

    db.session.expire_all()
    assert db.session.get(User, merchant_id).status == UserStatus.SUSPENDED

    # Their open session ends at the next page; a new login is refused, in Russian.
    shop.goto(f"{live_url}/sync")
    shop.wait_for_url(re.compile(r"/login"))
    _log_in(shop, live_url, merchant.email)
    shop.wait_for_load_state()
    assert re.search(r"/login", shop.url)
    assert shop.locator("html").get_attribute("lang") == "ru"
    refusal = shop.locator("main").inner_text()
    assert "заблокирован" in refusal.lower() or "приостановлен" in refusal.lower(), refusal

    # The admin pages' CSP is checked page by page in tests/hardening/test_csp_browser.py; here the merchant's pages.
    assert shop.errors == [], "\n".join(shop.errors)
