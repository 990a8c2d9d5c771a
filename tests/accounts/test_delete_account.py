"""Deleting an account: password required, every row the user owns goes, nobody else's does."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import AuditLog, Role, User, VkOrder
from tests.factories import PASSWORD, logged_in_client, login, make_user

_seq = itertools.count(1)


def user_tables() -> list[tuple[sa.Table, list[sa.Column]]]:
    """Every table with a foreign key to users.id, and those columns."""
    found = []
    for table in db.metadata.sorted_tables:
        cols = [c for c in table.columns for fk in c.foreign_keys if fk.column.table.name == "users"]
        if cols and table.name != "users":
            found.append((table, cols))
    return found


def filler(column: sa.Column, user_id: int):
    """A value for a required column, unique enough for unique constraints."""
    for fk in column.foreign_keys:
        if fk.column.table.name == "users":
            return user_id
        if fk.column.table.name == "roles":
            return db.session.scalar(sa.select(Role.id).where(Role.name == "user"))
        if fk.column.table.name == "vk_orders":  # an order line belongs to one of the user's orders
            return db.session.scalar(sa.select(VkOrder.id).where(VkOrder.user_id == user_id))
        raise AssertionError(f"teach this test to fill {column} (foreign key to {fk.column})")
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return next(_seq)
    if isinstance(kind, sa.Numeric):
        return Decimal("1")
    if isinstance(kind, sa.DateTime):
        return dt.datetime(2026, 1, 1)
    if isinstance(kind, sa.JSON):
        return {}
    return f"v{next(_seq)}"


def add_rows_for(user_id: int) -> None:
    existing = rows_of(user_id)  # user_roles is already filled by make_user
    for table, _ in user_tables():
        if existing[table.name]:
            continue
        values = {
            c.name: filler(c, user_id)
            for c in table.columns
            if (c.foreign_keys or (not c.nullable and c.default is None and not c.primary_key))
            and not (c.primary_key and not c.foreign_keys)
        }
        db.session.execute(table.insert().values(**values))
    db.session.commit()


def rows_of(user_id: int) -> dict[str, int]:
    counts = {}
    for table, cols in user_tables():
        where = sa.or_(*(c == user_id for c in cols))
        counts[table.name] = db.session.scalar(sa.select(sa.func.count()).select_from(table).where(where))
    return counts


def test_delete_removes_own_rows_and_keeps_others(app):
    """With the right password and "remove VK items" ticked: the user and their rows in every user-owned table
    are gone, the other merchant's rows are untouched, and the audit log notes the choice."""
    victim = make_user("leaving@example.com")
    other = make_user("staying@example.com")
    add_rows_for(victim.id)
    add_rows_for(other.id)
    before_other = rows_of(other.id)
    assert all(before_other.values()) and all(rows_of(victim.id).values())
    assert {t.name for t, _ in user_tables()} >= {
        "evotor_connections", "vk_connections", "cached_stores", "cached_groups", "cached_products",
        "vk_cached_albums", "vk_cached_products", "sync_configs", "sync_filters", "sync_links", "sync_albums",
        "sync_runs", "webhook_events", "invites", "user_roles",
    }  # fmt: skip
    victim_id = victim.id

    client = logged_in_client(app, victim)
    assert "Delete your account" in client.get("/profile/delete").get_data(as_text=True)
    resp = client.post("/profile/delete", data={"password": PASSWORD, "remove_vk_items": "y"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")
    db.session.expire_all()

    assert db.session.get(User, victim_id) is None
    after = rows_of(victim_id)
    survivors = {"audit_log"}  # the actor column is SET NULL: the log outlives its actors
    assert {name: n for name, n in after.items() if n and name not in survivors} == {}
    assert rows_of(other.id) == before_other
    note = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "account.delete"))
    assert note.target_user_id == victim_id and note.details["remove_vk_items"] is True
    assert client.get("/profile").status_code == 302  # logged out
    assert "Wrong email or password." in login(client, "leaving@example.com").get_data(as_text=True)


def test_delete_needs_the_password(app):
    """A wrong or missing password keeps the account, with the error next to the field."""
    user = make_user()
    client = logged_in_client(app, user)
    for password in ("Wrong-Horse-1", ""):
        resp = client.post("/profile/delete", data={"password": password})
        assert resp.status_code == 400 and "is-invalid" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id) is not None
    assert client.get("/profile").status_code == 200
