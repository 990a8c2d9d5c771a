"""A stalled merchant in a real browser, in Russian: the red banner on the dashboard says what is wrong and what to
do, the SMS opt-in is ticked on the profile (a real CSRF-protected form), and the banner goes when syncing works."""

from __future__ import annotations

import re

import pytest

from evosync.extensions import db
from evosync.models import RunStatus, SyncRun, User, utcnow
from evosync.services.incidents import check_all
from tests.factories import PASSWORD
from tests.incidents.conftest import stalled_merchant

pytestmark = pytest.mark.e2e


def _log_in(page, live_url: str, email: str) -> None:
    page.goto(f"{live_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/profile$"))


def test_stalled_merchant_sees_the_banner_ticks_sms_and_sees_it_go(live_app, live_url, new_page, screenshot):
    """Four hours without a successful sync: the check opens an incident and the dashboard shows it, in Russian,
    red, with what to do; a good sync and the next check take it away. No JavaScript error on the way."""
    user = stalled_merchant(hours=4, phone="+7 912 000-00-42")
    other = stalled_merchant(hours=0.5)
    assert check_all().opened == [user.id]
    page = new_page()
    _log_in(page, live_url, user.email)

    page.goto(f"{live_url}/sync")
    banner = page.locator("#incident-banner")
    banner.wait_for()
    assert "alert-danger" in banner.get_attribute("class")
    text = banner.inner_text()
    assert "Синхронизация с VK требует вашего внимания" in text and "Товары в VK не обновлялись с" in text
    assert "Синхронизировать сейчас" in text  # what to do
    assert banner.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(248, 215, 218)"  # Bootstrap's red
    screenshot(page, "dashboard-incident")

    # The SMS opt-in, through the real form (CSRF on, Russian labels).
    page.goto(f"{live_url}/profile/edit")
    page.check("input[name=sms_alerts]")
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(r"/profile$"))
    assert page.locator("#profile-sms-alerts").inner_text() == "Включены"
    db.session.expire_all()
    assert db.session.get(User, user.id).sms_alerts is True

    # Syncing works again: the next check closes the incident, the banner is gone.
    db.session.add(SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED, finished_at=utcnow()))
    db.session.commit()
    assert check_all().resolved == [user.id]
    page.goto(f"{live_url}/sync")
    page.locator("h1").wait_for()
    assert page.locator("#incident-banner").count() == 0

    # Another merchant never saw anyone's banner.
    other_page = new_page()
    _log_in(other_page, live_url, other.email)
    other_page.goto(f"{live_url}/sync")
    other_page.locator("h1").wait_for()
    assert other_page.locator("#incident-banner").count() == 0
    assert page.errors == [] and other_page.errors == []
