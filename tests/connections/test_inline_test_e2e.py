"""In a real browser: the inline Test button shows the check's answer without reloading the page."""

from __future__ import annotations

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live_url(linked_app):
    """The app served over real HTTP on 127.0.0.1 (CSRF on, as in production)."""
    linked_app.config["WTF_CSRF_ENABLED"] = True
    server = make_server("127.0.0.1", 0, linked_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
def test_inline_test_button_shows_the_answer_without_reload(live_url, sandbox):
    """Save an Evotor token, press Test: the answer appears in place and the page was not reloaded."""
    from playwright.sync_api import sync_playwright

    sandbox.evotor.add_account("browser-token-0001")
    sandbox.evotor.add_store("browser-token-0001", "Магазин")
    user = make_user()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(f"{live_url}/login")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", PASSWORD)
        page.click("[type=submit]")
        page.goto(f"{live_url}/connections")
        page.fill("#evotor input[name=token]", "browser-token-0001")
        page.click("#evotor form[action$='/connections/evotor'] [type=submit]")
        page.wait_for_url(f"{live_url}/connections")
        page.evaluate("window.__marker = 'same page'")
        sandbox.evotor.revoke_token("browser-token-0001")
        page.click("#evotor form[data-inline-test] button")
        result = page.locator("#evotor-test-result .alert-danger")
        result.wait_for(timeout=10_000)
        assert "did not accept the token" in result.inner_text()
        assert page.evaluate("window.__marker") == "same page"
        assert "browser-token-0001" not in page.content()
        browser.close()
