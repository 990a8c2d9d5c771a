"""What admins do to users and roles: each action checked against the guard rails and written to the audit log."""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_security.recoverable import send_reset_password_instructions

from ..extensions import db
from ..models import (
    AuditLog,
    CachedGroup,
    CachedProduct,
    CachedStore,
    EvotorConnection,
    Invite,
    Permission,
    Role,
    RoleName,
    SyncLink,
    SyncRun,
    User,
    UserStatus,
    VkCachedAlbum,
    VkCachedProduct,
    VkConnection,
    utcnow,
)
from ..rbac import ADMIN_PERMISSIONS, SYSTEM_PERMISSIONS
from . import account_deletion, accounts
from .accounts import AccountError, FieldError
from .audit import record
from .incidents import open_overview, wording

log = logging.getLogger(__name__)

# Permissions that open (parts of) the admin panel: they only mean something for the admin and system roles.
STAFF_PERMISSIONS = frozenset({**ADMIN_PERMISSIONS, **SYSTEM_PERMISSIONS})
STAFF_ROLES = frozenset({RoleName.ADMIN, RoleName.SYSTEM})
ROLE_PERMISSIONS_ACTION = "role.permissions"


class UserAction(enum.StrEnum):
    """The actions an admin can take on a user; the values are the URL segments and the audit log names."""

    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESET_PASSWORD = "reset-password"
    SEND_INVITE = "send-invite"
    EDIT = "edit"
    DELETE = "delete"


class ActionRefused(AccountError):
    """A guard rail said no; the message says why, in words fit for the admin who asked."""


# --- Guard rails ---------------------------------------------------------------------------------------------------


def check_allowed(actor: User, target: User, action: UserAction) -> None:
    """Raise ActionRefused when a guard rail forbids this actor doing this action to this target."""
    if target.is_system and not actor.is_system:
        raise ActionRefused(_("Only a system administrator can change a system user (%(email)s).", email=target.email))
    if action in (UserAction.SUSPEND, UserAction.DELETE) and target.id == actor.id:
        if action == UserAction.SUSPEND:
            raise ActionRefused(_("You cannot suspend your own account."))
        raise ActionRefused(_("You cannot delete your own account from the admin panel."))
    if action in (UserAction.SUSPEND, UserAction.DELETE) and is_last_system_user(target):
        raise ActionRefused(
            _("%(email)s is the last active system user: the service needs at least one.", email=target.email)
        )


def is_last_system_user(user: User) -> bool:
    """True when no other non-suspended user holds the system role (so this one must stay)."""
    if not user.is_system:
        return False
    others = db.session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.id != user.id,
            User.status != UserStatus.SUSPENDED,
            User.roles.any(Role.name == RoleName.SYSTEM),
        )
    )
    return not others


# --- User actions --------------------------------------------------------------------------------------------------


def activate(actor: User, user: User) -> User:
    """Let the user log in and sync again (a pending user's address counts as confirmed by the admin)."""
    check_allowed(actor, user, UserAction.ACTIVATE)
    record(actor, UserAction.ACTIVATE, user, {"from": user.status})
    return accounts.activate_user(user)  # commits the audit row with the change


def suspend(actor: User, user: User) -> User:
    """Stop the user: no login (their sessions end), and the scheduled fan-out skips suspended users."""
    check_allowed(actor, user, UserAction.SUSPEND)
    record(actor, UserAction.SUSPEND, user, {"from": user.status})
    return accounts.suspend_user(user)


def send_password_reset(actor: User, user: User) -> None:
    """Email the user a Flask-Security reset link (valid SECURITY_RESET_PASSWORD_WITHIN)."""
    check_allowed(actor, user, UserAction.RESET_PASSWORD)
    if user.status == UserStatus.SUSPENDED:
        raise ActionRefused(_("%(email)s is suspended: activate the account first.", email=user.email))
    send_reset_password_instructions(user)
    record(actor, UserAction.RESET_PASSWORD, user)
    db.session.commit()


def invite(actor: User, email: str) -> User:
    """Invite an address: a new pending user, or a fresh link for one who is still pending."""
    existing = accounts.find_user_by_email(email)
    if existing is not None:
        return reinvite(actor, existing)
    try:
        invitation, _url = accounts.create_invite(email, actor)
    except AccountError as exc:
        db.session.rollback()
        raise ActionRefused(str(exc)) from None
    user = db.session.get(User, invitation.user_id)
    record(actor, UserAction.SEND_INVITE, user, {"new_user": True, "expires_at": invitation.expires_at.isoformat()})
    db.session.commit()
    return user


def reinvite(actor: User, user: User) -> User:
    """A new invitation link for a pending user; the previous unused link stops working."""
    check_allowed(actor, user, UserAction.SEND_INVITE)
    if user.status != UserStatus.PENDING:
        raise ActionRefused(
            _(
                "%(email)s already has an account: invitations are only for users who have not joined yet.",
                email=user.email,
            )
        )
    try:
        invitation, _url = accounts.create_invite(user.email, actor)
    except AccountError as exc:
        db.session.rollback()
        raise ActionRefused(str(exc)) from None
    record(actor, UserAction.SEND_INVITE, user, {"new_user": False, "expires_at": invitation.expires_at.isoformat()})
    db.session.commit()
    return user


def edit(
    actor: User,
    user: User,
    *,
    name: str,
    email: str,
    phone: str,
    roles: Iterable[str],
    status: str,
) -> User:
    """Change a user's name, email, phone, roles and status; everything is checked before anything is saved.

    Raises FieldError for a bad field value and ActionRefused for a guard rail.
    """
    check_allowed(actor, user, UserAction.EDIT)
    new_roles = set(roles)
    old_roles = user.role_names
    role_rows = {r.name: r for r in db.session.scalars(sa.select(Role))}
    if not new_roles:
        raise FieldError("roles", _("Choose at least one role."))
    if unknown := new_roles - role_rows.keys():
        raise FieldError("roles", _("Unknown role: %(roles)s.", roles=", ".join(sorted(unknown))))
    if (RoleName.SYSTEM in new_roles) != (RoleName.SYSTEM in old_roles):
        if not actor.is_system:
            raise ActionRefused(_("Only a system administrator can grant or remove the system role."))
        if RoleName.SYSTEM not in new_roles and is_last_system_user(user):
            raise ActionRefused(
                _("%(email)s is the last active system user: the service needs at least one.", email=user.email)
            )
    if status not in set(UserStatus):
        raise FieldError("status", _("Unknown status: %(status)s.", status=status))
    if status == UserStatus.SUSPENDED and user.status != UserStatus.SUSPENDED:
        check_allowed(actor, user, UserAction.SUSPEND)
    new_email = (email or "").strip()
    if new_email.lower() != user.email.lower():
        try:
            new_email = accounts.normalize_email(new_email)
        except AccountError as exc:
            raise FieldError("email", str(exc)) from None
        other = accounts.find_user_by_email(new_email)
        if other is not None and other.id != user.id:
            raise FieldError("email", _("%(email)s is already used by another account.", email=new_email))
    else:
        new_email = user.email
    phone = accounts.clean_phone(phone)
    name = (name or "").strip()

    before = _editable_fields(user)
    user.name = name
    user.email = new_email
    user.phone = phone
    user.roles = [role_rows[r] for r in sorted(new_roles)]
    if status == UserStatus.ACTIVE and user.status != UserStatus.ACTIVE:
        user.confirmed_at = user.confirmed_at or utcnow()
    user.status = status
    after = _editable_fields(user)
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if changes:
        record(actor, UserAction.EDIT, user, {"changes": changes, "email_before": before["email"]})
    db.session.commit()
    return user


def _editable_fields(user: User) -> dict:
    return {
        "name": user.name,
        "email": user.email,
        "phone": user.phone,
        "roles": sorted(user.role_names),
        "status": str(user.status),
    }


def delete(actor: User, user: User, remove_vk_items: bool = False) -> None:
    """Delete the user and all their data (the foreign keys cascade); the audit row outlives them.

    With remove_vk_items the items EvoSync published in their VK community go first, at VK's pace: the user is
    suspended now and the accounts service's job removes the items, then the account. Without it, the user is
    deleted here and now (not through account_deletion.delete_account, which records a self-service deletion).
    """
    check_allowed(actor, user, UserAction.DELETE)
    record(actor, UserAction.DELETE, user, {"remove_vk_items": remove_vk_items})
    user_id = user.id
    if remove_vk_items:
        db.session.commit()
        account_deletion.request_account_deletion(user, remove_vk_items=True)
    else:
        db.session.delete(user)
        db.session.commit()
    log.info("user deleted by admin", extra={"user_id": user_id, "actor_id": actor.id, "vk": remove_vk_items})


def run_action(actor: User, user: User, action: UserAction) -> None:
    """The actions that need no further input, by name (for the per-user POST route and bulk actions)."""
    handlers = {
        UserAction.ACTIVATE: activate,
        UserAction.SUSPEND: suspend,
        UserAction.RESET_PASSWORD: send_password_reset,
        UserAction.SEND_INVITE: reinvite,
        UserAction.DELETE: delete,
    }
    handlers[action](actor, user)


def run_bulk(actor: User, user_ids: Iterable[int], action: UserAction) -> tuple[list[str], list[str]]:
    """Apply one action to many users; returns (emails done, reasons refused). A refusal does not stop the rest."""
    done: list[str] = []
    refused: list[str] = []
    for user_id in user_ids:
        user = db.session.get(User, user_id)
        if user is None:
            continue
        email = user.email
        try:
            run_action(actor, user, action)
        except AccountError as exc:
            db.session.rollback()
            refused.append(str(exc))
        else:
            done.append(email)
    return done, refused


# --- Roles and permissions -----------------------------------------------------------------------------------------


def set_role_permissions(actor: User, role: Role, permission_names: Iterable[str]) -> Role:
    """Save one row of the role x permission matrix; every permission check in the app reads these rows.

    The system role always keeps every permission (so nobody can lock the service out of its own admin), and
    panel permissions can only be given to the admin and system roles.
    """
    wanted = set(permission_names)
    all_rows = {p.name: p for p in db.session.scalars(sa.select(Permission))}
    if unknown := wanted - all_rows.keys():
        raise ActionRefused(_("Unknown permission: %(names)s.", names=", ".join(sorted(unknown))))
    if role.name == RoleName.SYSTEM and wanted != set(all_rows):
        raise ActionRefused(_("The system role always has every permission."))
    if role.name not in STAFF_ROLES and wanted & STAFF_PERMISSIONS:
        raise ActionRefused(
            _(
                "Admin panel permissions can only be given to the admin and system roles: %(names)s.",
                names=", ".join(sorted(wanted & STAFF_PERMISSIONS)),
            )
        )
    before = role.get_permissions()
    role.permission_rows = [all_rows[name] for name in sorted(wanted)]
    added, removed = sorted(wanted - before), sorted(before - wanted)
    if added or removed:
        record(actor, ROLE_PERMISSIONS_ACTION, None, {"role": role.name, "added": added, "removed": removed})
    db.session.commit()
    return role


# --- Read-only summaries ---------------------------------------------------------------------------------------------


def user_overview(user: User, runs: int = 10) -> dict:
    """What the admin's user page shows: connections, catalog counts per store, recent runs and errors, invites."""
    stores = list(db.session.scalars(sa.select(CachedStore).where(CachedStore.user_id == user.id)))
    products_per_store = dict(
        db.session.execute(
            sa.select(CachedProduct.store_evotor_id, sa.func.count(CachedProduct.id))
            .where(CachedProduct.user_id == user.id)
            .group_by(CachedProduct.store_evotor_id)
        ).all()
    )
    groups_per_store = dict(
        db.session.execute(
            sa.select(CachedGroup.store_evotor_id, sa.func.count(CachedGroup.id))
            .where(CachedGroup.user_id == user.id)
            .group_by(CachedGroup.store_evotor_id)
        ).all()
    )
    links_by_status = dict(
        db.session.execute(
            sa.select(SyncLink.status, sa.func.count(SyncLink.id))
            .where(SyncLink.user_id == user.id)
            .group_by(SyncLink.status)
        ).all()
    )
    return {
        "evotor": db.session.scalar(sa.select(EvotorConnection).where(EvotorConnection.user_id == user.id)),
        "vk": db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id)),
        "stores": [
            {
                "store": store,
                "groups": groups_per_store.get(store.evotor_id, 0),
                "products": products_per_store.get(store.evotor_id, 0),
            }
            for store in stores
        ],
        "vk_albums": _count(VkCachedAlbum, user),
        "vk_products": _count(VkCachedProduct, user),
        "links_by_status": links_by_status,
        "runs": list(
            db.session.scalars(
                sa.select(SyncRun)
                .where(SyncRun.user_id == user.id)
                .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
                .limit(runs)
            )
        ),
        "link_errors": list(
            db.session.scalars(
                sa.select(SyncLink)
                .where(SyncLink.user_id == user.id, SyncLink.last_error.is_not(None))
                .order_by(SyncLink.updated_at.desc())
                .limit(10)
            )
        ),
        "invites": list(
            db.session.scalars(
                sa.select(Invite).where(Invite.user_id == user.id).order_by(Invite.created_at.desc()).limit(5)
            )
        ),
        "audit": list(
            db.session.scalars(
                sa.select(AuditLog)
                .where(AuditLog.target_user_id == user.id)
                .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
                .limit(20)
            )
        ),
    }


def _count(model, user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(model.id)).where(model.user_id == user.id)) or 0


def connection_states(user_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """{user_id: {"evotor": state, "vk": state}} for a page of the user list, in two queries."""
    ids = list(user_ids)
    states: dict[int, dict[str, str]] = {uid: {} for uid in ids}
    if not ids:
        return states
    for model, key in ((EvotorConnection, "evotor"), (VkConnection, "vk")):
        for user_id, state in db.session.execute(sa.select(model.user_id, model.state).where(model.user_id.in_(ids))):
            states[user_id][key] = state
    return states


def panel_summary(recent: int = 10) -> dict:
    """The admin overview: users by status, connected merchants, runs of the last day by status, open incidents,
    latest audit rows."""
    since = utcnow() - dt.timedelta(days=1)
    incidents, incidents_open = open_overview()
    return {
        "incidents": incidents,
        "incidents_open": incidents_open,
        "incident_labels": wording.REASON_LABELS,
        "users_by_status": dict(
            db.session.execute(sa.select(User.status, sa.func.count(User.id)).group_by(User.status)).all()
        ),
        "evotor_connected": db.session.scalar(
            sa.select(sa.func.count(EvotorConnection.id)).where(EvotorConnection.state == "connected")
        ),
        "vk_connected": db.session.scalar(
            sa.select(sa.func.count(VkConnection.id)).where(VkConnection.state == "connected")
        ),
        "runs_by_status": dict(
            db.session.execute(
                sa.select(SyncRun.status, sa.func.count(SyncRun.id))
                .where(SyncRun.created_at >= since)
                .group_by(SyncRun.status)
            ).all()
        ),
        "audit": list(
            db.session.scalars(
                sa.select(AuditLog).order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(recent)
            )
        ),
    }
