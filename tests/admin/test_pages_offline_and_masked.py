"""Every admin page: no asset from another host (the panel works with no internet), no secret in the HTML,
and the audit log is listed, filterable and read-only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from evosync.crypto import mask
from evosync.models import AuditLog
from tests.admin.conftest import SECRETS, audit_rows
from tests.admin.test_access import admin_urls


class AssetCollector(HTMLParser):
    """The URLs a browser would fetch on its own: script src, link href (stylesheets, icons), img src."""

    def __init__(self) -> None:
        super().__init__()
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.assets.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.assets.append(attrs["href"])
        elif tag in ("img", "iframe") and attrs.get("src"):
            self.assets.append(attrs["src"])


def page_assets(html: str) -> list[str]:
    collector = AssetCollector()
    collector.feed(html)
    return collector.assets


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme or parts.netloc) and parts.netloc not in ("", "localhost")


def admin_pages(app, panel, client):
    """(url, html) of every GET page under /admin that answers HTML."""
    for method, url, _endpoint in admin_urls(app, panel):
        if method != "GET":
            continue
        resp = client.get(url)
        if resp.status_code == 200 and resp.mimetype == "text/html":
            yield url, resp.get_data(as_text=True)


def test_no_page_loads_anything_from_another_host(app, panel, system_client):
    """Scripts, stylesheets and images of every admin page (Flask-Admin and rq-dashboard) come from this app,
    and the stylesheets themselves import nothing from the internet (no web fonts)."""
    local_assets: set[str] = set()
    pages = 0
    for url, html in admin_pages(app, panel, system_client):
        pages += 1
        assets = page_assets(html)
        assert assets, url  # the parser saw the page's assets
        external = [a for a in assets if is_external(a)]
        assert external == [], (url, external)
        assert "//" not in "".join(a for a in assets if a.startswith("//")), url  # protocol-relative
        local_assets.update(a for a in assets if a.endswith(".css") or ".css?" in a)
    assert pages >= 20
    assert any("/admin/static/" in a for a in local_assets) and any("/admin/rq/static/" in a for a in local_assets)
    for css in sorted(local_assets):
        resp = system_client.get(css)
        assert resp.status_code == 200, css
        text = resp.get_data(as_text=True)
        assert not re.search(r"@import[^;]*(https?:)?//", text), css
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), css


def test_secrets_never_appear_in_any_admin_page(app, panel, system_client):
    """No admin page shows a connection's token, API token, signing secret or refresh token; the connection
    lists show the masked form instead."""
    for url, html in admin_pages(app, panel, system_client):
        for name, secret in SECRETS.items():
            assert secret not in html, (url, name)
            assert secret[:-4] not in html, (url, name)  # not even most of it
    evotor = system_client.get("/admin/evotor-connections/").get_data(as_text=True)
    vk = system_client.get("/admin/vk-connections/").get_data(as_text=True)
    for name in ("evotor_access", "evotor_api", "evotor_signing"):
        assert mask(SECRETS[name]) in evotor
    for name in ("vk_access", "vk_refresh"):
        assert mask(SECRETS[name]) in vk


def test_connection_search_and_filters_do_not_reach_secrets(app, panel, system_client):
    """Searching a connections list for a token finds nothing (tokens are not searchable)."""
    page = system_client.get("/admin/evotor-connections/?search=" + SECRETS["evotor_access"][:20])
    assert panel.merchant.email not in page.get_data(as_text=True)


def column(html: str, name: str) -> list[str]:
    """The values of one column of a Flask-Admin list page, top to bottom."""
    return [v.strip() for v in re.findall(rf'<td class="col-{name}">\s*(.*?)\s*</td>', html, re.S)]


def test_audit_log_lists_and_filters_actions(app, panel, admin_client):
    """Admin actions appear in the audit log with who, what, to whom and when, newest first; filters narrow it."""
    admin_client.post(f"/admin/users/{panel.merchant.id}/suspend")
    admin_client.post(f"/admin/users/{panel.merchant.id}/activate")
    page = admin_client.get("/admin/audit/").get_data(as_text=True)
    assert column(page, "action") == ["activate", "suspend", "account.delete"]
    assert column(page, "actor_email") == ["admin@example.com", "admin@example.com", "gone@example.com"]
    assert column(page, "target_email") == ["merchant@example.com", "merchant@example.com", "gone@example.com"]
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d", when) for when in column(page, "created_at"))
    assert column(admin_client.get("/admin/audit/?flt0_0=suspend").get_data(as_text=True), "action") == ["suspend"]
    by_actor = admin_client.get("/admin/audit/?flt0_1=gone@").get_data(as_text=True)
    assert column(by_actor, "action") == ["account.delete"]
    by_target = admin_client.get(f"/admin/audit/?flt0_3={panel.merchant.id}").get_data(as_text=True)
    assert column(by_target, "action") == ["activate", "suspend"]
    row = audit_rows("suspend")[0]
    assert (row.actor_id, row.actor_email, row.target_user_id, row.target_email) == (
        panel.admin.id,
        "admin@example.com",
        panel.merchant.id,
        "merchant@example.com",
    )


def test_audit_log_is_read_only(app, panel, system_client):
    """There is no way to edit or delete audit rows from the panel."""
    before = len(audit_rows())
    audit_id = panel.ids["audit"]
    assert system_client.post("/admin/audit/delete/", data={"id": audit_id}).status_code == 404
    assert system_client.post(f"/admin/audit/edit/?id={audit_id}", data={"action": "x"}).status_code == 404
    system_client.post("/admin/audit/action/", data={"action": "delete", "rowid": [str(audit_id)]})
    assert len(audit_rows()) == before
    assert audit_rows()[0].action == "account.delete"
    assert AuditLog.__tablename__ == "audit_log"
