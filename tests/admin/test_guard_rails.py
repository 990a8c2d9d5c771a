"""Guard rails: admins cannot touch system users or the system role, nobody suspends or deletes themselves,
and the last system user stays. Each refusal changes nothing and writes no audit row."""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.models import User, UserStatus
from tests.admin.conftest import audit_rows, reload
from tests.factories import logged_in_client, make_user

EDIT = {"name": "Changed", "phone": "", "status": "active"}


def edit(client, user: User, **fields):
    data = {**EDIT, "email": user.email, "roles": sorted(user.role_names), **fields}
    return client.post(f"/admin/users/{user.id}/edit", data=data, follow_redirects=True)


@pytest.mark.parametrize("action", ["suspend", "activate", "reset-password", "send-invite"])
def test_admin_cannot_act_on_a_system_user(app, panel, admin_client, action):
    """Every action on a system user is refused to an admin."""
    before = reload(panel.system).status
    resp = admin_client.post(f"/admin/users/{panel.system.id}/{action}", follow_redirects=True)
    assert b"Only a system administrator can change a system user" in resp.data
    assert reload(panel.system).status == before
    assert audit_rows(action) == []


def test_admin_cannot_edit_or_delete_a_system_user(app, panel, admin_client):
    """Edit and delete of a system user are refused to an admin (the user is untouched)."""
    resp = edit(admin_client, panel.system, name="Hacked")
    assert b"Only a system administrator can change a system user" in resp.data
    resp = admin_client.post(f"/admin/users/{panel.system.id}/delete", data={"confirm": "yes"}, follow_redirects=True)
    assert b"Only a system administrator can change a system user" in resp.data
    system = reload(panel.system)
    assert system is not None and system.name == "Root"
    assert audit_rows("edit") == [] and audit_rows("delete") == []


def test_admin_cannot_grant_the_system_role(app, panel, admin_client):
    """An admin giving a merchant the system role is refused."""
    resp = edit(admin_client, panel.merchant, roles=["user", "system"])
    assert b"Only a system administrator can grant or remove the system role" in resp.data
    assert reload(panel.merchant).role_names == {"user"}


def test_system_user_can_grant_and_remove_the_system_role(app, panel, system_client):
    """A system user may make another system user, and take the role back while another remains."""
    edit(system_client, panel.admin, roles=["admin", "system"])
    assert reload(panel.admin).role_names == {"admin", "system"}
    edit(system_client, panel.admin, roles=["admin"])
    assert reload(panel.admin).role_names == {"admin"}
    assert len(audit_rows("edit")) == 2


def test_admin_cannot_remove_the_system_role_even_from_a_non_system_target(app, panel, admin_client):
    """The rule is about the role itself: an admin editing a merchant cannot add it (checked above) nor
    touch a system user at all, so the system role can only change hands through a system user."""
    second_system = make_user(email="root2@example.com", roles=("system",))
    resp = edit(admin_client, second_system, roles=["user"])
    assert b"Only a system administrator" in resp.data
    assert reload(second_system).role_names == {"system"}


@pytest.mark.parametrize("who", ["admin", "system"])
def test_nobody_suspends_themselves(app, panel, who):
    """Suspending yourself is refused, by the button and through the edit form's status."""
    me = getattr(panel, who)
    client = logged_in_client(app, me)
    resp = client.post(f"/admin/users/{me.id}/suspend", follow_redirects=True)
    assert b"You cannot suspend your own account" in resp.data
    resp = edit(client, me, status="suspended")
    assert b"You cannot suspend your own account" in resp.data
    assert reload(me).status == UserStatus.ACTIVE


@pytest.mark.parametrize("who", ["admin", "system"])
def test_nobody_deletes_themselves(app, panel, who):
    """Deleting yourself from the panel is refused (the profile page has its own, password-checked way)."""
    me = getattr(panel, who)
    client = logged_in_client(app, me)
    resp = client.post(f"/admin/users/{me.id}/delete", data={"confirm": "yes"}, follow_redirects=True)
    assert b"You cannot delete your own account" in resp.data
    assert reload(me) is not None


def test_last_system_user_cannot_drop_the_system_role(app, panel, system_client):
    """The only system user removing the system role from their own account is refused."""
    resp = edit(system_client, panel.system, roles=["admin"])
    assert b"last active system user" in resp.data
    assert reload(panel.system).role_names == {"system"}


def test_a_system_user_can_go_while_another_remains(app, panel, system_client):
    """With a second active system user, that one can be suspended, lose the role, or be deleted."""
    second = make_user(email="root2@example.com", roles=("system",))
    system_client.post(f"/admin/users/{second.id}/suspend")
    assert reload(second).status == UserStatus.SUSPENDED
    third = make_user(email="root3@example.com", roles=("system",))
    edit(system_client, third, roles=["admin"])
    assert reload(third).role_names == {"admin"}
    system_client.post(f"/admin/users/{third.id}/delete", data={"confirm": "yes"})
    assert reload(third) is None


@pytest.mark.parametrize("attempt", ["suspend", "delete", "drop_role"])
def test_last_active_system_user_stays(app, panel, attempt):
    """Suspended system users do not count: acting as one on the last active system user is refused.
    (Through the web this cannot even be tried, since a suspended user cannot log in.)"""
    from evosync.services import admin as admin_service

    suspended_root = make_user(email="root2@example.com", roles=("system",), status=UserStatus.SUSPENDED)
    target = panel.system
    action = {
        "suspend": lambda: admin_service.suspend(suspended_root, target),
        "delete": lambda: admin_service.delete(suspended_root, target),
        "drop_role": lambda: admin_service.edit(
            suspended_root, target, name="", email=target.email, phone="", roles=["admin"], status="active"
        ),
    }[attempt]
    with pytest.raises(admin_service.ActionRefused, match="last active system user"):
        action()
    db.session.rollback()
    target = reload(target)
    assert target.status == UserStatus.ACTIVE and target.role_names == {"system"}
    assert audit_rows() == audit_rows("account.delete")  # only the fixture's row: nothing recorded
