"""A logged-in request loads its user with the roles and their permissions in one query (issue 12: every page
pays for it), and the permissions so loaded still decide what the user may do."""

from __future__ import annotations

import re

from sqlalchemy import event

from evosync.extensions import db
from tests.factories import logged_in_client, make_user

_ACCOUNT_TABLES = re.compile(r"\b(users|roles|user_roles|permissions|role_permissions)\b")


def _statements_during(call) -> list[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_user_roles_and_permissions_come_in_one_query(app):
    web = logged_in_client(app, make_user())
    answers = []
    statements = _statements_during(lambda: answers.append(web.get("/api/sync/status")))
    assert answers[0].status_code == 200  # catalog.view was found among the role's permissions
    account_reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and _ACCOUNT_TABLES.search(s)]
    assert len(account_reads) == 1, account_reads


def test_a_user_without_the_permission_is_still_refused(app):
    """The joined load does not widen anything: a user with no role (so no catalog.view) gets 403."""
    web = logged_in_client(app, make_user(roles=()))
    assert web.get("/api/sync/status").status_code == 403


def test_a_permission_changed_in_the_role_matrix_decides_the_next_request(app):
    """Permission names come with the role, computed by the database in the same query: a permission taken from
    the role in the admin matrix refuses the very next request, and given back, allows it again."""
    from evosync.models import Role
    from evosync.services.admin import set_role_permissions

    admin = make_user(roles=("admin",))
    web = logged_in_client(app, make_user())
    assert web.get("/api/sync/status").status_code == 200
    role = db.session.scalar(db.select(Role).filter_by(name="user"))
    granted = role.get_permissions()
    assert "catalog.view" in granted
    set_role_permissions(admin, role, granted - {"catalog.view"})
    assert web.get("/api/sync/status").status_code == 403
    set_role_permissions(admin, role, granted)
    assert web.get("/api/sync/status").status_code == 200


def test_permission_names_of_a_role_match_its_permission_rows(app):
    """The column the query computes and the ORM collection agree, for a role with none, one and many."""
    from evosync.models import Permission, Role

    for name in ("system", "admin", "user"):
        db.session.expire_all()
        role = db.session.scalar(db.select(Role).filter_by(name=name))
        from_query = role.get_permissions()
        assert from_query == {p.name for p in role.permission_rows}
    empty = Role(name="empty-role", description="")
    db.session.add(empty)
    db.session.commit()
    try:
        db.session.expire_all()
        assert db.session.scalar(db.select(Role).filter_by(name="empty-role")).get_permissions() == set()
    finally:  # roles are seed data, kept between tests
        db.session.delete(db.session.scalar(db.select(Role).filter_by(name="empty-role")))
        db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(Permission)) > 1


def test_an_authentication_token_does_not_log_anyone_in(app):
    """The session is the only way in: a valid Flask-Security auth token, in the header or the query, is not
    accepted (EvoSync issues none, and the request loader that would read it is off)."""
    user = make_user()
    token = user.get_auth_token()
    client = app.test_client()
    header = client.get("/api/sync/status", headers={"Authentication-Token": token})
    assert header.status_code == 401
    assert client.get("/api/sync/status", query_string={"auth_token": token}).status_code == 401
