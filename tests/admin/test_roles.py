"""The role x permission matrix: saving it changes what permission checks across the app answer."""

from __future__ import annotations

from evosync.extensions import db
from evosync.models import Role, User
from evosync.rbac import DEFAULT_ROLES
from tests.admin.conftest import audit_rows, reload


def role(name: str) -> Role:
    db.session.expire_all()
    return db.session.query(Role).filter_by(name=name).one()


def save(client, name: str, permissions):
    return client.post(
        f"/admin/roles/{role(name).id}/permissions", data={"permissions": list(permissions)}, follow_redirects=True
    )


def test_matrix_shows_every_role_and_permission(app, panel, system_client):
    """The page lists each permission with a checkbox per role, ticked as the tables say."""
    page = system_client.get("/admin/roles/").data.decode()
    for name, (_description, permissions) in DEFAULT_ROLES.items():
        role_id = role(name).id
        for permission in permissions:
            assert f'form="role-{role_id}" name="permissions" value="{permission}"' in page
    assert page.count('type="checkbox"') == len(DEFAULT_ROLES) * len(DEFAULT_ROLES["system"][1])


def test_saving_the_matrix_changes_permission_checks(app, panel, system_client, merchant_client):
    """Taking catalog.view from the user role: the merchant's has_permission says no, and so does the page
    that checks it; giving it back restores both."""
    merchant: User = panel.merchant
    assert merchant.has_permission("catalog.view")
    without = set(DEFAULT_ROLES["user"][1]) - {"catalog.view"}
    resp = save(system_client, "user", without)
    assert b"Permissions of the role user are saved" in resp.data
    assert role("user").get_permissions() == without
    assert not reload(merchant).has_permission("catalog.view")
    # The catalog blueprint guards its pages with permission_required("catalog.view").
    assert merchant_client.get("/catalog/").status_code == 403
    save(system_client, "user", DEFAULT_ROLES["user"][1])
    assert reload(merchant).has_permission("catalog.view")
    assert merchant_client.get("/catalog/").status_code == 302
    rows = audit_rows("role.permissions")
    assert [r.details["removed"] for r in rows] == [["catalog.view"], []]
    assert [r.details["added"] for r in rows] == [[], ["catalog.view"]]
    assert rows[0].actor_email == "root@example.com"


def test_admins_can_read_but_not_save_the_matrix(app, panel, admin_client):
    """roles.manage belongs to the system role: an admin sees the matrix read-only and a save is 403."""
    page = admin_client.get("/admin/roles/").data.decode()
    assert "only a system administrator can change it" in page
    assert 'type="submit"' not in page
    assert page.count('type="checkbox"') == page.count("disabled>") > 0
    before = role("user").get_permissions()
    resp = admin_client.post(f"/admin/roles/{role('user').id}/permissions", data={"permissions": []})
    assert resp.status_code == 403
    assert role("user").get_permissions() == before


def test_system_role_keeps_every_permission(app, panel, system_client):
    """The system row cannot be changed, so nobody can lock the service out of its own admin."""
    resp = save(system_client, "system", ["catalog.view"])
    assert b"always has every permission" in resp.data
    assert role("system").get_permissions() == set(DEFAULT_ROLES["system"][1])


def test_panel_permissions_only_for_staff_roles(app, panel, system_client, merchant_client):
    """admin.access cannot be given to the user role (the panel is for admins), so merchants stay out."""
    resp = save(system_client, "user", [*DEFAULT_ROLES["user"][1], "admin.access"])
    assert b"can only be given to the admin and system roles" in resp.data
    assert "admin.access" not in role("user").get_permissions()
    assert merchant_client.get("/admin/").status_code == 403


def test_unknown_permission_is_refused(app, panel, system_client):
    """A made-up permission name is refused and nothing changes."""
    resp = save(system_client, "admin", [*DEFAULT_ROLES["admin"][1], "everything.please"])
    assert b"Unknown permission" in resp.data
    assert role("admin").get_permissions() == set(DEFAULT_ROLES["admin"][1])


def test_unknown_role_is_404(app, panel, system_client):
    assert system_client.post("/admin/roles/9999/permissions", data={"permissions": []}).status_code == 404
