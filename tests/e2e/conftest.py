"""Browser fixtures: the app on a real HTTP server, Debian's Chromium driven by Playwright, Russian locale, screenshots.

Screenshots go to docs/screenshots/ only when EVOSYNC_SCREENSHOTS=1 (so CI runs leave the tree clean), else to a
temporary folder. Without /usr/bin/chromium every test here is skipped with that reason.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import g, request_started
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 15_000


@pytest.fixture(autouse=True)
def _needs_chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
def browser():
    """A headless Chromium per test. Not per session: Playwright's sync API allows one instance per thread, and
    other folders' browser tests (connections, hardening) start their own."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def live_app(app, sandbox):
    """The app as in production (CSRF on, Russian by default) talking to the sandbox; jobs run inline."""
    app.config.update(
        WTF_CSRF_ENABLED=True,
        BABEL_DEFAULT_LOCALE="ru",
        RUN_JOBS_INLINE=True,
        EVOTOR_API_URL=sandbox.evotor_url,
        VK_API_URL=sandbox.vk_url,
        EVOTOR_TIMEOUT=5.0,
        VK_TIMEOUT=5.0,
        VK_RATE_LIMIT_PER_SECOND=10_000,
    )
    sandbox.vk.rate_limit_enabled = False  # speed: these tests are about the story, not VK's pace
    sandbox.evotor.page_size = 50
    request_started.connect(_forget_request_globals, app)
    yield app
    request_started.disconnect(_forget_request_globals, app)


def _forget_request_globals(sender, **extra) -> None:
    """Jobs that run inline in a request and test code share `g` in places: never let a cached user leak."""
    for name in ("_login_user", "fs_authn_via", "fs_paa"):
        g.pop(name, None)


@pytest.fixture
def live_url(live_app) -> Iterator[str]:
    """The app served by a threaded werkzeug server on a free 127.0.0.1 port."""
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def new_page(browser, live_url):
    """new_page() -> a page in a fresh Russian-speaking browser context (its own cookies), desktop-sized."""
    contexts = []

    def make():
        context = browser.new_context(locale="ru-RU", viewport=DESKTOP)  # Accept-Language: ru-RU
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # JavaScript errors, failed loads and CSP refusals: every story asserts there were none
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.on("console", lambda msg: _record_console_error(page.errors, msg))
        return page

    yield make
    for context in contexts:
        context.close()


def _record_console_error(errors: list[str], msg) -> None:
    if msg.type != "error":
        return
    errors.append(msg.text)


@pytest.fixture
def screenshot(tmp_path) -> Callable:
    """screenshot(page, name): full-page PNGs at desktop (1366x900) and phone (390x844) size."""
    folder = SCREENSHOT_DIR if os.environ.get("EVOSYNC_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> list[Path]:
        paths = []
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            path = folder / f"{name}-{label}.png"
            page.screenshot(path=str(path), full_page=True)
            if folder == SCREENSHOT_DIR:  # committed files: a 128-colour palette keeps each well under 200 KB
                _shrink_png(path)
            paths.append(path)
        page.set_viewport_size(DESKTOP)
        return paths

    return take


def _shrink_png(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
