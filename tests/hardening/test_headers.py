"""Security headers: a self-only CSP every page lives with, no framing, HSTS and secure cookies in production."""

from __future__ import annotations

import re

import pytest

from evosync import create_app
from tests.factories import PASSWORD, logged_in_client, make_user

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)([^>]*)>", re.I)
INLINE_STYLE_BLOCK = re.compile(r"<style([^>]*)>", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
# Pages with a documented CSP exception (see evosync/security_headers.py): they may carry inline code.
EXCEPTED = ("/admin/rq", "/redoc")
# Pages that need a query string: VK ID's redirect without its code and state; an invite without its token.
NEEDS_QUERY = {"/connections/vk/vkid/callback": 400, "/invite": 404}


def _csp(resp) -> dict[str, list[str]]:
    header = resp.headers.get("Content-Security-Policy", "")
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _page_urls(app, user_id: int) -> list[str]:
    """Every GET page without arguments (and the owner's id pages), as a shop owner or staff sees them."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or "static" in rule.endpoint:
            continue
        if rule.rule.endswith((".json", ".js", ".ico")) or rule.rule in ("/logout", "/health"):
            continue
        urls.append(rule.rule)
    return sorted(urls)


def test_csp_allows_only_self_and_pages_need_nothing_else(fast_vk, synced_shop):
    """The policy names no other origin and no 'unsafe-inline'/'unsafe-eval'; every page the shop owner and
    staff open (HTML) answers 200 with it, and carries no inline script or style block without the page's nonce
    and no style attribute (which a nonce cannot allow)."""
    staff = make_user(roles=("system",))
    checked = 0
    for client in (logged_in_client(fast_vk, synced_shop.user), logged_in_client(fast_vk, staff)):
        for url in _page_urls(fast_vk, synced_shop.user_id):
            resp = client.get(url, follow_redirects=True)
            if resp.status_code == 403:  # a merchant on an admin page, tested elsewhere
                continue
            assert resp.status_code == NEEDS_QUERY.get(url, 200), f"GET {url}: {resp.status_code}"
            if resp.mimetype != "text/html":
                continue
            page = resp.get_data(as_text=True)
            policy = _csp(resp)
            assert policy, f"{url}: no CSP"
            if resp.request.path.startswith(EXCEPTED):
                continue
            nonce = next((s[7:-1] for s in policy["script-src"] if s.startswith("'nonce-")), None)
            assert policy["default-src"] == ["'self'"]
            assert set(policy["script-src"]) == {"'self'", f"'nonce-{nonce}'"}, (url, policy["script-src"])
            assert not any("unsafe" in s for v in policy.values() for s in v), (url, policy)
            assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
            for match in [*INLINE_SCRIPT.finditer(page), *INLINE_STYLE_BLOCK.finditer(page)]:
                if "text/template" in match.group(1) or "application/json" in match.group(1):
                    continue
                assert f'nonce="{nonce}"' in match.group(1), f"{url}: inline block without the nonce: {match[0]}"
            bad = STYLE_ATTRIBUTE.search(page)
            assert bad is None, f"{url}: a style attribute the CSP blocks: {page[bad.start() : bad.start() + 160]}"
            checked += 1
    assert checked >= 20, checked


def test_frame_options_nosniff_and_referrer_everywhere(client):
    """Pages and JSON alike refuse framing (DENY), forbid MIME sniffing and keep referrers on this site."""
    for url in ("/login", "/health", "/openapi.json", "/nope"):
        resp = client.get(url)
        assert resp.headers["X-Frame-Options"] == "DENY", url
        assert resp.headers["X-Content-Type-Options"] == "nosniff", url
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", url


def test_documented_exceptions_are_narrow(app):
    """rq-dashboard (staff only) may run inline code and ReDoc may inject styles and start a blob: worker;
    neither may load anything from another origin."""
    staff = logged_in_client(app, make_user(roles=("system",)))
    rq = _csp(staff.get("/admin/rq/"))
    assert "'unsafe-inline'" in rq["script-src"] and all(s.startswith("'") for s in rq["script-src"])
    redoc = _csp(staff.get("/redoc"))
    assert redoc["script-src"] == ["'self'"] and "blob:" in redoc["worker-src"]
    assert redoc["connect-src"] == ["'self'"] and redoc["default-src"] == ["'self'"]


@pytest.fixture
def production_app(app):
    """The same app in production mode (EVOSYNC_ENV=production), on the test database and Redis."""
    config = {k: v for k, v in app.config.items() if k.isupper()}
    overrides = {"PRODUCTION": True, "SECRET_KEY": "x" * 40, "DEBUG": False, "BASE_URL": "https://evosync.example"}
    # as load_config derives them from an https BASE_URL
    overrides.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    return create_app({**config, **overrides})


def test_hsts_only_over_https_in_production(production_app, app):
    """Production sends HSTS on requests that came over HTTPS (directly or through the proxy's header) and
    never over plain HTTP; development never sends it."""
    prod = production_app.test_client()
    assert "Strict-Transport-Security" not in prod.get("/login").headers
    over_proxy = prod.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert over_proxy.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    direct = prod.get("/login", base_url="https://evosync.example")
    assert "Strict-Transport-Security" in direct.headers
    dev = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"}, base_url="https://localhost")
    assert "Strict-Transport-Security" not in dev.headers


def test_session_cookies_are_secure_httponly_and_samesite_in_production(production_app):
    """Logging in under production mode sets session (and remember) cookies with Secure, HttpOnly, SameSite."""
    with production_app.app_context():
        email = make_user().email
    client = production_app.test_client()
    resp = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "remember": "y"},
        base_url="https://evosync.example",
    )
    assert resp.status_code in (302, 303), resp.data[:300]
    cookies = {h.split("=", 1)[0]: h for h in resp.headers.getlist("Set-Cookie")}
    assert "session" in cookies and "remember_token" in cookies, cookies.keys()
    for name in ("session", "remember_token"):
        flags = cookies[name].lower()
        assert "; secure" in flags and "; httponly" in flags and "samesite=lax" in flags, cookies[name]


def test_development_cookies_work_over_plain_http(client):
    """In development (http://localhost) the session cookie is not Secure, or nobody could log in locally;
    it is still HttpOnly and SameSite."""
    user = make_user()
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD})
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "; secure" not in cookie.lower() and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_product_photos_from_vk_hosts_are_allowed_but_plain_http_only_in_development():
    """VK's CDN photos (any HTTPS host) may show on the VK catalog pages; plain HTTP images only in development,
    where the sandbox serves them; scripts stay 'self' only either way."""
    from evosync.security_headers import build_policy

    production = build_policy(production=True)
    development = build_policy(production=False)
    assert "https:" in production["img-src"].split() and "http:" not in production["img-src"].split()
    assert "http:" in development["img-src"].split()
    assert "https:" not in production["script-src"].split()


def test_production_over_plain_http_lan_trial_can_log_in(app):
    """Production with an http BASE_URL (compose on a LAN, no TLS yet): the session cookie is not Secure, so a
    browser on another machine sends it back and the login holds."""
    config = {k: v for k, v in app.config.items() if k.isupper()}
    lan = create_app({**config, "PRODUCTION": True, "SECRET_KEY": "x" * 40, "BASE_URL": "http://192.0.2.10:8080"})
    with lan.app_context():
        email = make_user().email
    client = lan.test_client()
    resp = client.post("/login", data={"email": email, "password": PASSWORD}, base_url="http://192.0.2.10:8080")
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "; secure" not in cookie.lower() and "httponly" in cookie.lower()
    assert client.get("/profile", base_url="http://192.0.2.10:8080").status_code == 200
