"""Who can open what under /admin: every URL in the app's url_map, as anonymous, merchant, admin and system."""

from __future__ import annotations

import pytest
from rq import Queue

from evosync.extensions import db
from evosync.models import Role
from evosync.redis_conn import get_redis
from evosync.services import admin as admin_service
from tests.factories import logged_in_client


def _job_id(app) -> str:
    """A real queued job, so rq-dashboard's job pages have something to show."""
    return Queue("default", connection=get_redis(app)).enqueue("os.getcwd").id


def admin_urls(app, panel) -> list[tuple[str, str, str]]:
    """(method, url, endpoint) for every rule under /admin, arguments filled with real ids."""
    user_role = db.session.scalar(db.select(Role).where(Role.name == "user"))
    values = {
        "user_id": panel.merchant.id,
        "role_id": user_role.id,
        "action_name": "activate",
        "export_type": "csv",
        "instance_number": 0,
        "job_id": _job_id(app),
        "queue_name": "default",
        "registry_name": "queued",
        "per_page": 10,
        "order": "asc",
        "page": 1,
    }
    static_files = {"admin.static": "admin/js/helpers.js", "rq_dashboard.static": "css/main.css"}
    found = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin"):
            continue
        args = {name: values[name] for name in rule.arguments if name != "filename"}
        if "filename" in rule.arguments:
            args["filename"] = static_files[rule.endpoint]
        url = adapter.build(rule.endpoint, args)
        view, _, action = rule.endpoint.partition(".")
        if action in ("details_view", "edit_view"):
            table = view.removeprefix("admin_")
            url += f"?id={panel.ids.get(table, panel.merchant.id)}"
        if rule.endpoint == "admin_users.bulk_delete_view":
            url += f"?ids={panel.merchant.id}"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url, rule.endpoint))
    return found


def staff_expectation(method: str, url: str, endpoint: str) -> int:
    if endpoint == "rq_dashboard.requeue_all":
        return 405  # GET must not change anything
    return 200


def test_url_map_has_every_admin_area(app, panel):
    """The matrix below really covers the panel: each section and rq-dashboard has URLs in it."""
    endpoints = {endpoint for _, _, endpoint in admin_urls(app, panel)}
    for expected in (
        "admin.index",
        "admin.static",
        "admin_users.index_view",
        "admin_users.detail",
        "admin_users.user_action",
        "admin_users.edit",
        "admin_users.delete",
        "admin_users.invite",
        "admin_users.bulk_delete_view",
        "admin_users.action_view",
        "admin_roles.index",
        "admin_roles.save_permissions",
        "admin_audit.index_view",
        "admin_evotor_stores.index_view",
        "admin_evotor_groups.index_view",
        "admin_evotor_products.index_view",
        "admin_vk_albums.index_view",
        "admin_vk_products.index_view",
        "admin_sync_links.index_view",
        "admin_sync_runs.index_view",
        "admin_evotor_connections.index_view",
        "admin_vk_connections.index_view",
        "rq_dashboard.queues_overview",
        "rq_dashboard.requeue_job_view",
    ):
        assert expected in endpoints


def test_anonymous_visitors_are_sent_to_the_login_page_everywhere(app, panel, client):
    """Every /admin URL, any method, sends an anonymous visitor to /login (and nothing runs)."""
    for method, url, endpoint in admin_urls(app, panel):
        resp = client.open(url, method=method)
        assert resp.status_code == 302, (method, url, resp.status_code)
        assert resp.headers["Location"].startswith("/login"), (method, url, resp.headers["Location"])


def test_merchants_get_403_everywhere(app, panel, merchant_client):
    """Every /admin URL, any method, answers 403 to a logged-in merchant."""
    for method, url, endpoint in admin_urls(app, panel):
        resp = merchant_client.open(url, method=method)
        assert resp.status_code == 403, (method, url, resp.status_code)


@pytest.mark.parametrize(("who", "lang"), [("admin", "en"), ("system", "ru")])
def test_admins_and_system_users_open_every_page(app, panel, who, lang):
    """Every GET under /admin works for the admin and system roles (in both languages)."""
    client = logged_in_client(app, getattr(panel, who))
    client.set_cookie("lang", lang)
    for method, url, endpoint in admin_urls(app, panel):
        if method != "GET":
            continue
        resp = client.get(url)
        expected = staff_expectation(method, url, endpoint)
        assert resp.status_code == expected, (url, resp.status_code, resp.data[:300])


def test_users_pages_show_the_merchant(app, panel, admin_client):
    """Representative detail and edit pages answer with the real user's data."""
    for url in (
        f"/admin/users/{panel.merchant.id}/",
        f"/admin/users/{panel.merchant.id}/edit",
        f"/admin/users/{panel.merchant.id}/delete",
        f"/admin/sync-runs/details/?id={panel.ids['sync_runs']}",
    ):
        resp = admin_client.get(url)
        assert resp.status_code == 200, url
        assert b"merchant@example.com" in resp.data, url


def test_unknown_user_is_404(app, panel, admin_client):
    """An id that is no user gives 404, for pages and actions alike."""
    assert admin_client.get("/admin/users/999999/").status_code == 404
    assert admin_client.post("/admin/users/999999/suspend").status_code == 404
    assert admin_client.post(f"/admin/users/{panel.merchant.id}/promote").status_code == 404


def test_rq_dashboard_needs_the_rq_permission(app, panel, admin_client, system_client):
    """rq-dashboard follows the role matrix: without rq.access an admin gets 403 there, but keeps the panel."""
    assert admin_client.get("/admin/rq/").status_code == 200
    admin_role = db.session.scalar(db.select(Role).where(Role.name == "admin"))
    kept = admin_role.get_permissions() - {"rq.access"}
    admin_service.set_role_permissions(panel.system, admin_role, kept)
    assert admin_client.get("/admin/rq/").status_code == 403
    assert admin_client.get("/admin/rq/0/data/queues.json").status_code == 403
    assert admin_client.get("/admin/").status_code == 200
    assert b"/admin/rq/" not in admin_client.get("/admin/").data  # no menu link to a page they cannot open
    assert b"/admin/rq/" in system_client.get("/admin/").data


def test_admin_access_permission_is_needed_too(app, panel, admin_client):
    """Taking admin.access from the admin role closes the whole panel to admins (403), static files included."""
    admin_role = db.session.scalar(db.select(Role).where(Role.name == "admin"))
    admin_service.set_role_permissions(panel.system, admin_role, admin_role.get_permissions() - {"admin.access"})
    assert admin_client.get("/admin/").status_code == 403
    assert admin_client.get("/admin/users/").status_code == 403
    assert admin_client.get("/admin/static/admin/js/helpers.js").status_code == 403


def test_suspended_admin_is_logged_out(app, panel, admin_client):
    """An admin suspended by a system user loses the panel at their next request (sent to the login page)."""
    admin_service.suspend(panel.system, panel.admin)
    resp = admin_client.get("/admin/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
