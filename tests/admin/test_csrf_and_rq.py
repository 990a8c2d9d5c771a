"""CSRF on every state-changing admin request (forms, bulk actions, the role matrix, rq-dashboard buttons),
and rq-dashboard behind the admin check."""

from __future__ import annotations

import re

import pytest
from rq import Queue

from evosync.models import UserStatus
from evosync.redis_conn import get_redis
from tests.admin.conftest import reload


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


def page_token(client, url: str) -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def test_user_action_needs_the_csrf_token(csrf_app, panel):
    """POST /admin/users/<id>/suspend without a token is refused (400); with the page's token it works."""
    client = _login_with_csrf(csrf_app, panel.admin)
    resp = client.post(f"/admin/users/{panel.merchant.id}/suspend")
    assert resp.status_code == 400
    assert reload(panel.merchant).status == UserStatus.ACTIVE
    token = page_token(client, f"/admin/users/{panel.merchant.id}/")
    resp = client.post(f"/admin/users/{panel.merchant.id}/suspend", data={"csrf_token": token})
    assert resp.status_code == 302
    assert reload(panel.merchant).status == UserStatus.SUSPENDED


def test_bulk_action_and_role_matrix_need_the_csrf_token(csrf_app, panel):
    """Flask-Admin's action form and the role matrix carry the token; posts without it change nothing."""
    client = _login_with_csrf(csrf_app, panel.system)
    data = {"action": "suspend", "rowid": [str(panel.merchant.id)], "url": "/admin/users/"}
    assert client.post("/admin/users/action/", data=data).status_code == 400
    assert reload(panel.merchant).status == UserStatus.ACTIVE
    token = page_token(client, "/admin/users/")  # the hidden action form's token
    client.post("/admin/users/action/", data={**data, "csrf_token": token})
    assert reload(panel.merchant).status == UserStatus.SUSPENDED

    from evosync.extensions import db
    from evosync.models import Role

    user_role = db.session.query(Role).filter_by(name="user").one()
    before = user_role.get_permissions()
    url = f"/admin/roles/{user_role.id}/permissions"
    assert client.post(url, data={"permissions": []}).status_code == 400
    db.session.expire_all()
    assert user_role.get_permissions() == before
    token = page_token(client, "/admin/roles/")
    client.post(url, data={"permissions": ["catalog.view"], "csrf_token": token})
    db.session.expire_all()
    assert user_role.get_permissions() == {"catalog.view"}


def test_rq_dashboard_buttons_send_the_csrf_token_from_its_cookie(csrf_app, panel):
    """rq-dashboard's JavaScript sends the _csrf_token cookie as X-CSRFToken: we set that cookie on its pages,
    so requeue/delete work for admins, and a request without the header is refused."""
    client = _login_with_csrf(csrf_app, panel.admin)
    job = Queue("default", connection=get_redis(csrf_app)).enqueue("os.getcwd")
    assert client.post(f"/admin/rq/job/{job.id}/delete").status_code == 400
    assert client.get("/admin/rq/").status_code == 200
    cookie = client.get_cookie("_csrf_token", path="/admin/rq")
    assert cookie is not None
    resp = client.post(f"/admin/rq/job/{job.id}/delete", headers={"X-CSRFToken": cookie.value})
    assert resp.status_code == 200 and resp.get_json()["status"] == "OK"
    assert Queue("default", connection=get_redis(csrf_app)).count == 0


def test_rq_requeue_all_refuses_get(app, panel, admin_client):
    """rq-dashboard's "requeue all" also answers GET upstream; here a GET (a link, an <img>) is 405."""
    assert admin_client.get("/admin/rq/requeue/default").status_code == 405
    assert admin_client.post("/admin/rq/requeue/default").status_code == 200


def test_rq_dashboard_for_admins_only(app, panel, client, merchant_client, admin_client, system_client):
    """/admin/rq: login page for anonymous, 403 for merchants, the dashboard for admin and system users,
    and it is linked from the admin menu."""
    resp = client.get("/admin/rq/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")
    assert merchant_client.get("/admin/rq/").status_code == 403
    assert merchant_client.get("/admin/rq/0/data/queues.json").status_code == 403
    for staff in (admin_client, system_client):
        assert b"RQ" in staff.get("/admin/rq/").data
        assert staff.get("/admin/rq/0/data/queues.json").status_code == 200
        assert b'href="/admin/rq/"' in staff.get("/admin/").data


def _login_with_csrf(app, user):
    """Log in through the real form, token included (CSRF is on for these tests)."""
    from tests.factories import PASSWORD

    client = app.test_client()
    token = page_token(client, "/login")
    resp = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return client
