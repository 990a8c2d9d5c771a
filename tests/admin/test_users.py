"""The Users section: finding users, their page, and every action one by one, by POST route and in bulk."""

from __future__ import annotations

import re

from evosync.extensions import db
from evosync.models import CachedProduct, CachedStore, EvotorConnection, Invite, SyncRun, User, UserStatus
from tests.admin.conftest import audit_rows, fill_merchant_data, reload
from tests.factories import PASSWORD, emails_to, link_in, login, make_user


def listed_emails(resp) -> list[str]:
    """The users a list page shows, in order (each row links the email to the user's page)."""
    return re.findall(r'<a href="/admin/users/\d+/">([^<]+)</a>', resp.data.decode())


# --- finding users -------------------------------------------------------------------------------------------------


def test_search_by_email_name_and_phone(app, panel, admin_client):
    """The search box matches the email, the name and the phone."""
    assert listed_emails(admin_client.get("/admin/users/?search=merchant@")) == ["merchant@example.com"]
    assert listed_emails(admin_client.get("/admin/users/?search=Boris")) == ["admin@example.com"]
    assert listed_emails(admin_client.get("/admin/users/?search=912 000")) == ["merchant@example.com"]
    assert listed_emails(admin_client.get("/admin/users/?search=nobody-like-this")) == []


def test_filters_by_role_status_and_connection(app, panel, admin_client):
    """Filters: role (flt0_0), status (flt0_1), Evotor connected (flt0_2), VK connected (flt0_3)."""
    make_user(email="late@example.com", status=UserStatus.SUSPENDED)
    assert listed_emails(admin_client.get("/admin/users/?flt0_0=system")) == ["root@example.com"]
    assert listed_emails(admin_client.get("/admin/users/?flt0_1=suspended")) == ["late@example.com"]
    # The merchant's Evotor connection is connected, their VK one is broken.
    assert listed_emails(admin_client.get("/admin/users/?flt0_2=1")) == ["merchant@example.com"]
    assert "merchant@example.com" not in listed_emails(admin_client.get("/admin/users/?flt0_2=0"))
    assert "merchant@example.com" in listed_emails(admin_client.get("/admin/users/?flt0_3=0"))
    assert listed_emails(admin_client.get("/admin/users/?flt0_3=1")) == []


def test_list_shows_connection_states(app, panel, admin_client):
    """Each row says whether Evotor and VK are connected."""
    page = admin_client.get("/admin/users/?search=merchant@").data.decode()
    assert "connected" in page and "broken" in page


def test_sorting_and_pagination(app, panel, admin_client):
    """Sorting by email (column 0) both ways, and pages of 20."""
    for i in range(22):
        make_user(email=f"bulk{i:02d}@example.com", password=None)
    ascending = listed_emails(admin_client.get("/admin/users/?sort=0&page_size=100"))
    assert ascending == sorted(ascending) and len(ascending) == 25
    descending = listed_emails(admin_client.get("/admin/users/?sort=0&desc=1&page_size=100"))
    assert descending == ascending[::-1]
    first = listed_emails(admin_client.get("/admin/users/?sort=0&page_size=20"))
    second = listed_emails(admin_client.get("/admin/users/?sort=0&page_size=20&page=1"))
    assert len(first) == 20 and len(second) == 5
    assert first + second == ascending


def test_detail_page_shows_connections_counts_runs_and_errors(app, panel, admin_client):
    """A user's page: connection states and errors, products per store, recent runs with their errors."""
    page = admin_client.get(f"/admin/users/{panel.merchant.id}/").data.decode()
    assert "Main store" in page
    assert re.search(r"<td>Main store</td><td>1</td><td>3</td>", page)  # 1 group, 3 products
    assert "access_token has expired" in page  # the VK connection's last error
    assert "1 product failed" in page  # the last run's error
    assert "photo too small" in page  # a product that failed to sync
    assert "Shop community" in page


# --- one user at a time ------------------------------------------------------------------------------------------


def test_suspend_and_activate(app, panel, admin_client):
    """Suspend stops the user (status suspended, their login refused); activate lets them in again."""
    resp = admin_client.post(f"/admin/users/{panel.merchant.id}/suspend")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/admin/users/{panel.merchant.id}/"
    assert reload(panel.merchant).status == UserStatus.SUSPENDED
    assert login(app.test_client(), "merchant@example.com").status_code != 302
    admin_client.post(f"/admin/users/{panel.merchant.id}/activate")
    assert reload(panel.merchant).status == UserStatus.ACTIVE
    assert login(app.test_client(), "merchant@example.com").status_code == 302
    assert [r.action for r in audit_rows()][-2:] == ["suspend", "activate"]


def test_activating_a_pending_user_confirms_them(app, panel, admin_client):
    """A pending user activated by an admin is active and confirmed."""
    pending = make_user(email="pending@example.com", status=UserStatus.PENDING)
    admin_client.post(f"/admin/users/{pending.id}/activate")
    pending = reload(pending)
    assert pending.status == UserStatus.ACTIVE and pending.confirmed_at is not None


def test_reset_password_emails_a_working_link(app, panel, admin_client):
    """reset-password emails Flask-Security's reset link; following it sets a new password."""
    resp = admin_client.post(f"/admin/users/{panel.merchant.id}/reset-password", follow_redirects=True)
    assert b"new password has been emailed" in resp.data
    (message,) = emails_to(app, "merchant@example.com")
    path = link_in(message, "/reset-password/")
    visitor = app.test_client()
    assert visitor.get(path).status_code == 200
    new_password = "Brand-New-Pass-42"
    visitor.post(path, data={"password": new_password, "password_confirm": new_password})
    assert login(app.test_client(), "merchant@example.com", new_password).status_code == 302
    assert audit_rows("reset-password")[0].target_email == "merchant@example.com"


def test_invite_a_new_address(app, panel, admin_client):
    """Invite creates a pending user and emails a single-use link valid INVITE_EXPIRE_HOURS."""
    resp = admin_client.post("/admin/users/invite", data={"email": "newcomer@example.com"})
    user = db.session.query(User).filter_by(email="newcomer@example.com").one()
    assert resp.headers["Location"] == f"/admin/users/{user.id}/"
    assert user.status == UserStatus.PENDING and user.role_names == {"user"}
    invite = db.session.query(Invite).filter_by(user_id=user.id).one()
    hours = (invite.expires_at - invite.created_at).total_seconds() / 3600
    assert round(hours) == app.config["INVITE_EXPIRE_HOURS"]
    (message,) = emails_to(app, "newcomer@example.com")
    assert app.test_client().get(link_in(message, "/invite")).status_code == 200
    row = audit_rows("send-invite")[0]
    assert row.actor_email == "admin@example.com" and row.details["new_user"] is True


def test_send_invite_again_replaces_the_old_link(app, panel, admin_client):
    """send-invite on a pending user mails a new link; the first one stops working."""
    admin_client.post("/admin/users/invite", data={"email": "newcomer@example.com"})
    user = db.session.query(User).filter_by(email="newcomer@example.com").one()
    admin_client.post(f"/admin/users/{user.id}/send-invite")
    first, second = emails_to(app, "newcomer@example.com")
    visitor = app.test_client()
    assert b"not valid" in visitor.get(link_in(first, "/invite"), follow_redirects=True).data
    assert visitor.get(link_in(second, "/invite")).status_code == 200
    assert len(audit_rows("send-invite")) == 2


def test_invite_is_refused_for_an_existing_account(app, panel, admin_client):
    """An address with an active account cannot be invited (nothing is emailed)."""
    resp = admin_client.post("/admin/users/invite", data={"email": "merchant@example.com"}, follow_redirects=True)
    assert b"already has an account" in resp.data
    assert emails_to(app, "merchant@example.com") == []
    assert audit_rows("send-invite") == []


def test_edit_name_email_phone_roles_status(app, panel, admin_client):
    """The edit form changes every editable field, and the audit row lists what changed."""
    resp = admin_client.post(
        f"/admin/users/{panel.merchant.id}/edit",
        data={
            "name": "Anna Renamed",
            "email": "anna@example.com",
            "phone": "+7 900 111-22-33",
            "roles": ["user", "admin"],
            "status": "suspended",
        },
    )
    assert resp.status_code == 302
    user = reload(panel.merchant)
    assert (user.name, user.email, user.phone) == ("Anna Renamed", "anna@example.com", "+7 900 111-22-33")
    assert user.role_names == {"user", "admin"} and user.status == UserStatus.SUSPENDED
    (row,) = audit_rows("edit")
    assert row.details["changes"]["email"] == ["merchant@example.com", "anna@example.com"]
    assert row.details["changes"]["roles"] == [["user"], ["admin", "user"]]
    assert row.target_email == "anna@example.com"


def test_edit_shows_field_errors(app, panel, admin_client):
    """A taken email, a bad phone or no role at all is shown on the form and nothing is saved."""
    base = {"name": "X", "email": "merchant@example.com", "phone": "", "roles": ["user"], "status": "active"}
    url = f"/admin/users/{panel.merchant.id}/edit"
    resp = admin_client.post(url, data={**base, "email": "admin@example.com"})
    assert resp.status_code == 200 and b"already used by another account" in resp.data
    resp = admin_client.post(url, data={**base, "phone": "call me"})
    assert resp.status_code == 200 and b"digits only" in resp.data
    resp = admin_client.post(url, data={k: v for k, v in base.items() if k != "roles"})
    assert resp.status_code == 200 and b"at least one role" in resp.data
    assert reload(panel.merchant).name == "Anna Merchant"
    assert audit_rows("edit") == []


def test_delete_asks_first_then_removes_all_their_data(app, panel, admin_client):
    """GET shows a confirmation; a POST without confirm=yes deletes nothing; with it, the user and their rows go."""
    user_id = panel.merchant.id
    page = admin_client.get(f"/admin/users/{user_id}/delete")
    assert b"cannot be undone" in page.data
    assert admin_client.post(f"/admin/users/{user_id}/delete").status_code == 200
    assert reload(panel.merchant) is not None
    resp = admin_client.post(f"/admin/users/{user_id}/delete", data={"confirm": "yes"})
    assert resp.headers["Location"] == "/admin/users/"
    db.session.expire_all()
    assert db.session.get(User, user_id) is None
    for model in (CachedStore, CachedProduct, EvotorConnection, SyncRun):
        assert db.session.query(model).filter_by(user_id=user_id).count() == 0, model
    (row,) = audit_rows("delete")
    assert (row.actor_email, row.target_email, row.target_user_id) == (
        "admin@example.com",
        "merchant@example.com",
        user_id,
    )


# --- bulk ----------------------------------------------------------------------------------------------------------


def bulk(client, action: str, *users: User):
    return client.post(
        "/admin/users/action/", data={"action": action, "rowid": [str(u.id) for u in users], "url": "/admin/users/"}
    )


def test_bulk_suspend_and_activate(app, panel, admin_client):
    """Bulk suspend and activate change every selected user, one audit row each."""
    others = [make_user(password=None) for _ in range(2)]
    resp = bulk(admin_client, "suspend", panel.merchant, *others)
    assert resp.headers["Location"] == "/admin/users/"
    assert {reload(u).status for u in [panel.merchant, *others]} == {UserStatus.SUSPENDED}
    bulk(admin_client, "activate", panel.merchant, *others)
    assert {reload(u).status for u in [panel.merchant, *others]} == {UserStatus.ACTIVE}
    assert len(audit_rows("suspend")) == 3 and len(audit_rows("activate")) == 3


def test_bulk_goes_on_past_a_refusal(app, panel, admin_client):
    """A guard rail refusing one user (here: the admin themselves) does not stop the others."""
    resp = bulk(admin_client, "suspend", panel.admin, panel.merchant)
    assert reload(panel.merchant).status == UserStatus.SUSPENDED
    assert reload(panel.admin).status == UserStatus.ACTIVE
    page = admin_client.get(resp.headers["Location"]).data.decode()
    assert "cannot suspend your own account" in page and "merchant@example.com" in page


def test_bulk_reset_password_and_invite(app, panel, admin_client):
    """Bulk reset-password mails each user; bulk re-invite mails the pending ones and refuses the rest."""
    pending = make_user(email="pending@example.com", status=UserStatus.PENDING, password=None)
    bulk(admin_client, "reset_password", panel.merchant, pending)
    assert len(emails_to(app, "merchant@example.com")) == 1 and len(emails_to(app, "pending@example.com")) == 1
    bulk(admin_client, "send_invite", panel.merchant, pending)
    assert len(emails_to(app, "pending@example.com")) == 2
    assert len(emails_to(app, "merchant@example.com")) == 1  # an active account is not invited
    assert [r.target_email for r in audit_rows("send-invite")] == ["pending@example.com"]


def test_bulk_delete_confirms_first(app, panel, admin_client):
    """Bulk delete shows a confirmation listing the users; only the confirmed POST deletes them."""
    other = make_user(email="other@example.com", password=None)
    fill_merchant_data(other)
    resp = bulk(admin_client, "delete_users", panel.merchant, other)
    confirm_url = resp.headers["Location"]
    assert confirm_url.startswith("/admin/users/bulk-delete?ids=")
    page = admin_client.get(confirm_url).data.decode()
    assert "merchant@example.com" in page and "other@example.com" in page
    assert db.session.query(User).count() == 4  # nothing deleted yet
    ids = f"{panel.merchant.id},{other.id}"
    admin_client.post("/admin/users/bulk-delete", data={"ids": ids, "confirm": "yes"})
    db.session.expire_all()
    assert {u.email for u in db.session.query(User)} == {"admin@example.com", "root@example.com"}
    assert db.session.query(CachedProduct).count() == 0
    assert len(audit_rows("delete")) == 2


def test_bulk_actions_need_users_manage(app, panel, admin_client):
    """Without users.manage an admin still sees the list but no action runs (403), and no action menu shows."""
    from evosync.models import Role
    from evosync.services import admin as admin_service

    admin_role = db.session.query(Role).filter_by(name="admin").one()
    admin_service.set_role_permissions(panel.system, admin_role, admin_role.get_permissions() - {"users.manage"})
    page = admin_client.get("/admin/users/")
    assert page.status_code == 200 and b"action_form" not in page.data
    assert admin_client.post(f"/admin/users/{panel.merchant.id}/suspend").status_code == 403
    assert admin_client.get(f"/admin/users/{panel.merchant.id}/edit").status_code == 403
    bulk(admin_client, "suspend", panel.merchant)
    assert reload(panel.merchant).status == UserStatus.ACTIVE


def test_merchant_login_still_works_after_admin_views(app, panel):
    """Sanity: the fixture's merchant can log in with the factory password (the tests above rely on it)."""
    assert login(app.test_client(), panel.merchant.email, PASSWORD).status_code == 302


def test_delete_with_vk_items_goes_through_the_deletion_job(app, panel, admin_client):
    """Asking to remove their VK items too hands over to the accounts job (suspend, unpublish, delete; inline in
    tests). This merchant has no VK connection, so there is nothing to unpublish and the account goes."""
    other = make_user(email="novk@example.com", password=None)
    db.session.add(CachedStore(user_id=other.id, evotor_id="s", name="Kiosk"))
    db.session.commit()
    other_id = other.id
    resp = admin_client.post(
        f"/admin/users/{other_id}/delete", data={"confirm": "yes", "remove_vk_items": "1"}, follow_redirects=True
    )
    assert b"their VK items are being removed" in resp.data
    db.session.expire_all()
    assert db.session.get(User, other_id) is None
    assert db.session.query(CachedStore).filter_by(user_id=other_id).count() == 0
    (row,) = audit_rows("delete")
    assert row.details == {"remove_vk_items": True} and row.actor_email == "admin@example.com"
