"""Accounts: creating users, statuses, login throttling, invites, profile changes and account deletion."""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets

import redis
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from flask_security import hash_password
from flask_security.mail_util import EmailValidateException
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..crypto import secret_box
from ..extensions import db, security
from ..models import EvotorConnection, Invite, Role, RoleName, SyncRun, User, UserStatus, VkConnection, utcnow
from ..models.datastore import user_datastore
from ..redis_conn import get_redis
from . import notifications

log = logging.getLogger(__name__)


class AccountError(Exception):
    """A request about an account that cannot be done; the message is fit to show the person who asked."""


class InviteInvalid(AccountError):
    pass


class InviteExpired(AccountError):
    pass


class InviteUsed(AccountError):
    pass


class EmailChangeInvalid(AccountError):
    pass


class FieldError(AccountError):
    """A problem with one form field; views show it next to that field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- Users -------------------------------------------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """The form Flask-Security stores and looks up; raises AccountError for a malformed address."""
    try:
        return security.mail_util.validate((email or "").strip())
    except EmailValidateException as exc:
        raise AccountError(str(exc.msg)) from None


def find_user_by_email(email: str) -> User | None:
    """Case-insensitive, as Flask-Security's login is."""
    return db.session.scalar(sa.select(User).where(sa.func.lower(User.email) == (email or "").strip().lower()))


def check_password_policy(password: str, user: User | None = None) -> str:
    """Flask-Security's password rules (length, complexity when configured); returns the normalised password."""
    errors, normalized = security.password_util.validate(password or "", False, user=user)
    if errors:
        raise AccountError(" ".join(str(e) for e in errors))
    return normalized


def create_user(
    email: str,
    password: str,
    role: str = RoleName.USER,
    name: str = "",
    status: str = UserStatus.ACTIVE,
) -> User:
    """A ready-to-use user (confirmed unless pending), e.g. the first system user from the CLI."""
    email = normalize_email(email)
    if find_user_by_email(email):
        raise AccountError(_("%(email)s already has an account.", email=email))
    role_row = _role(role)
    password = check_password_policy(password)
    user = user_datastore.create_user(email=email, password=hash_password(password), roles=[role_row], name=name)
    user.status = status
    if status != UserStatus.PENDING:
        user.confirmed_at = utcnow()
    db.session.commit()
    log.info("user created", extra={"user_id": user.id, "role": role})
    return user


def set_role(user: User, role: str) -> User:
    """The user ends up with exactly this one role."""
    user.roles = [_role(role)]
    db.session.commit()
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(sa.select(User).order_by(User.id)))


def activate_user(user: User) -> User:
    """Active and able to log in; an admin activating a pending user vouches for the address."""
    user.status = UserStatus.ACTIVE
    user.confirmed_at = user.confirmed_at or utcnow()
    db.session.commit()
    return user


def suspend_user(user: User) -> User:
    user.status = UserStatus.SUSPENDED
    db.session.commit()
    return user


def on_registered(user: User) -> None:
    """Flask-Security's user_registered signal: someone who signs up themselves is a merchant (role "user")."""
    if not user.roles:
        user_datastore.add_role_to_user(user, _role(RoleName.USER))
    db.session.commit()


def on_password_reset(user: User) -> None:
    """Flask-Security's password_reset signal: the link came to the address, so a pending user (an Evotor
    install, an unfinished invite) is now confirmed and active; failed logins are forgotten."""
    if user.status == UserStatus.PENDING:
        user.status = UserStatus.ACTIVE
        user.confirmed_at = user.confirmed_at or utcnow()
        log.info("pending account activated by a password reset", extra={"user_id": user.id})
    user.failed_login_count = 0
    user.locked_until = None
    db.session.commit()


def send_welcome(user: User) -> None:
    """The welcome email of an account Evotor created with an address: one link to choose a password, which
    also confirms the address (the invite flow). A failure to queue it is logged, never raised: the account
    exists, and "Forgot your password?" reaches it as well."""
    try:
        create_invite(
            user.email,
            None,
            inviter_name=_("Evotor"),
            subject=_("Welcome to EvoSync: please confirm your email"),
        )
    except Exception as exc:  # noqa: BLE001 - Redis or SMTP trouble must not fail Evotor's webhook
        db.session.rollback()
        log.warning("welcome email not sent", extra={"user_id": user.id, "error": type(exc).__name__})


def on_email_confirmed(user: User) -> None:
    """Flask-Security's user_confirmed signal: a pending user becomes active (a suspended one stays suspended)."""
    if user.status == UserStatus.PENDING:
        user.status = UserStatus.ACTIVE
    db.session.commit()


def _role(name: str) -> Role:
    role = db.session.scalar(sa.select(Role).where(Role.name == name))
    if role is None:
        known = ", ".join(db.session.scalars(sa.select(Role.name).order_by(Role.name)))
        raise AccountError(_("There is no role %(role)s. Roles: %(known)s.", role=name, known=known))
    return role


# --- Login throttling ----------------------------------------------------------------------------------------------
# Per account: users.failed_login_count / locked_until (survives restarts, visible to admins).
# Per address: a Redis counter with a TTL window; when Redis is down we let people in rather than lock everyone out.


def account_lock_seconds_left(user: User) -> int:
    if user.locked_until is None:
        return 0
    return max(0, int((user.locked_until - utcnow()).total_seconds() + 0.999))


def ip_lock_seconds_left(ip: str | None) -> int:
    if not ip:
        return 0
    try:
        conn = get_redis()
        count = int(conn.get(ip_failure_key(ip)) or 0)
        if count < current_app.config["LOGIN_IP_MAX_FAILURES"]:
            return 0
        return max(1, int(conn.ttl(ip_failure_key(ip))))
    except redis.RedisError:
        log.warning("login throttle: Redis unavailable, address limit skipped")
        return 0


def record_failed_login(user: User | None, ip: str | None) -> None:
    """A wrong password (or an unknown email): count it against the address, and against the account if known."""
    if ip:
        try:
            conn = get_redis()
            key = ip_failure_key(ip)
            pipe = conn.pipeline()
            # The window starts at the first failure (SET NX keeps it; EXPIRE NX would need Redis 7).
            pipe.set(key, 0, ex=current_app.config["LOGIN_IP_WINDOW_SECONDS"], nx=True)
            pipe.incr(key)
            pipe.execute()
        except redis.RedisError:
            log.warning("login throttle: Redis unavailable, address failure not counted")
    if user is not None:
        user.failed_login_count = (user.failed_login_count or 0) + 1
        if user.failed_login_count >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = utcnow() + dt.timedelta(seconds=current_app.config["LOGIN_LOCK_SECONDS"])
            user.failed_login_count = 0
            log.warning("account locked after failed logins", extra={"user_id": user.id})
        db.session.commit()


def clear_failed_logins(user: User) -> None:
    """After a successful login or a password reset the account starts with a clean slate."""
    if user.failed_login_count or user.locked_until:
        user.failed_login_count = 0
        user.locked_until = None
        db.session.commit()


def ip_failure_key(ip: str) -> str:
    """The Redis counter of failed logins from one address (expires LOGIN_IP_WINDOW_SECONDS after the first)."""
    return f"evosync:login-failures:ip:{ip}"


# --- Invites -------------------------------------------------------------------------------------------------------


def create_invite(
    email: str,
    invited_by: User | None,
    send: bool = True,
    *,
    inviter_name: str = "",
    subject: str = "",
) -> tuple[Invite, str]:
    """Invite someone by email: a pending user plus a single-use link valid INVITE_EXPIRE_HOURS.

    Only a keyed hash of the token is stored; the link is returned (to show the admin) and, when send is
    true, emailed to the address. An earlier unused invite for the same address stops working.
    ``inviter_name`` and ``subject`` word the email when no person invites (the Evotor welcome email).
    """
    email = normalize_email(email)
    user = find_user_by_email(email)
    if user is not None and user.status != UserStatus.PENDING:
        raise AccountError(_("%(email)s already has an account.", email=user.email))
    if user is None:
        user = user_datastore.create_user(email=email, password=None, roles=[_role(RoleName.USER)])
        user.status = UserStatus.PENDING
        db.session.flush()
    db.session.execute(sa.delete(Invite).where(sa.func.lower(Invite.email) == email.lower(), Invite.used_at.is_(None)))
    token = secrets.token_urlsafe(32)
    invite = Invite(
        email=user.email,
        token_hash=secret_box.lookup_hash(token),
        invited_by_id=invited_by.id if invited_by else None,
        user_id=user.id,
        expires_at=utcnow() + dt.timedelta(hours=current_app.config["INVITE_EXPIRE_HOURS"]),
    )
    db.session.add(invite)
    db.session.commit()
    url = absolute_url("auth_extra.invite", token=token)
    if send:
        notifications.send_templated_email(
            invite.email,
            "invite",
            subject or _("You are invited to EvoSync"),
            invite_url=url,
            inviter=(invited_by.name or invited_by.email) if invited_by else inviter_name,
            expire_hours=current_app.config["INVITE_EXPIRE_HOURS"],
        )
    log.info("invite created", extra={"invite_id": invite.id, "invited_by": invite.invited_by_id})
    return invite, url


def get_valid_invite(token: str | None) -> Invite:
    """The invite behind a link, or InviteInvalid / InviteExpired / InviteUsed."""
    invite = (
        db.session.scalar(sa.select(Invite).where(Invite.token_hash == secret_box.lookup_hash(token)))
        if token
        else None
    )
    if invite is None:
        raise InviteInvalid(_("This invitation link is not valid. Check that you copied the whole link."))
    if invite.used_at is not None:
        raise InviteUsed(_("This invitation has already been used. Log in with your email and password."))
    if invite.expires_at <= utcnow():
        raise InviteExpired(_("This invitation has expired. Ask the person who invited you to send a new one."))
    return invite


def accept_invite(token: str, name: str, password: str) -> User:
    """Complete registration from an invite: name and password set, the address counts as confirmed."""
    invite = get_valid_invite(token)
    user = db.session.get(User, invite.user_id) if invite.user_id else find_user_by_email(invite.email)
    if user is None or user.status == UserStatus.SUSPENDED:
        raise InviteInvalid(_("This invitation is no longer valid. Ask the person who invited you."))
    password = check_password_policy(password, user)
    user.password = hash_password(password)
    user.name = name.strip()
    user.confirmed_at = user.confirmed_at or utcnow()
    user.status = UserStatus.ACTIVE
    invite.used_at = utcnow()
    db.session.commit()
    log.info("invite accepted", extra={"invite_id": invite.id, "user_id": user.id})
    return user


# --- Profile -------------------------------------------------------------------------------------------------------

PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-.]*$")


def clean_phone(phone: str) -> str:
    """Loose on purpose: digits with the usual separators, 5 to 15 digits in all; raises FieldError."""
    phone = (phone or "").strip()
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if not PHONE_RE.match(phone) or not 5 <= len(digits) <= 15 or len(phone) > 32:
        raise FieldError("phone", _("Enter a phone number with digits only, e.g. +7 912 345-67-89."))
    return phone


def profile_summary(user: User) -> dict:
    """What the profile page shows besides the user row: connection states and the latest sync run."""
    return {
        "evotor": db.session.scalar(sa.select(EvotorConnection).where(EvotorConnection.user_id == user.id)),
        "vk": db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id)),
        "last_run": db.session.scalar(
            sa.select(SyncRun)
            .where(SyncRun.user_id == user.id)
            .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
            .limit(1)
        ),
    }


def update_profile(
    user: User, name: str, phone: str, email: str | None = None, *, sms_alerts: bool | None = None
) -> str | None:
    """Save name, phone and the SMS alerts opt-in (None: unchanged); a different email starts a confirmed change
    (see request_email_change).

    Everything is checked before anything is saved. Returns the new pending address, or None.
    """
    phone = clean_phone(phone)
    if sms_alerts and not phone:
        raise FieldError("sms_alerts", _("Enter your phone number above to get SMS alerts."))
    new_email = None
    if email is not None and email.strip().lower() != user.email.lower():
        new_email = _check_new_email(user, email)
    user.name = (name or "").strip()
    user.phone = phone
    if sms_alerts is not None:
        user.sms_alerts = bool(sms_alerts)
    db.session.commit()
    if new_email:
        request_email_change(user, new_email)
    return new_email


def request_email_change(user: User, new_email: str) -> str:
    """Remember the new address as pending and email it a signed link; the switch happens on click.

    Returns the normalised new address.
    """
    new_email = _check_new_email(user, new_email)
    user.pending_email = new_email
    db.session.commit()
    token = _email_change_serializer().dumps([user.id, new_email])
    notifications.send_templated_email(
        new_email,
        "email_change",
        _("Confirm your new email address"),
        user=user,
        confirm_url=absolute_url("profile.confirm_email_change", token=token),
        expire_hours=current_app.config["EMAIL_CHANGE_EXPIRE_HOURS"],
    )
    return new_email


def _check_new_email(user: User, new_email: str) -> str:
    try:
        new_email = normalize_email(new_email)
    except AccountError as exc:
        raise FieldError("email", str(exc)) from None
    if new_email.lower() == user.email.lower():
        raise FieldError("email", _("This is already your email address."))
    other = find_user_by_email(new_email)
    if other is not None and other.id != user.id:
        raise FieldError("email", _("%(email)s is already used by another account.", email=new_email))
    return new_email


def confirm_email_change(token: str) -> User:
    """Switch to the new address from the emailed link; the link works once, for the latest request only."""
    max_age = current_app.config["EMAIL_CHANGE_EXPIRE_HOURS"] * 3600
    try:
        user_id, new_email = _email_change_serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise EmailChangeInvalid(_("This link has expired. Change your email again to get a new one.")) from None
    except (BadSignature, ValueError, TypeError):
        raise EmailChangeInvalid(_("This link is not valid. Check that you copied the whole link.")) from None
    user = db.session.get(User, user_id)
    if user is None or not user.pending_email or user.pending_email.lower() != str(new_email).lower():
        raise EmailChangeInvalid(_("This link has already been used or replaced by a newer one."))
    other = find_user_by_email(new_email)
    if other is not None and other.id != user.id:
        raise EmailChangeInvalid(_("%(email)s is already used by another account.", email=new_email))
    old_email = user.email
    user.email = new_email
    user.pending_email = None
    db.session.commit()
    notifications.send_templated_email(
        old_email, "email_changed", _("Your EvoSync email address was changed"), user=user, old_email=old_email
    )
    log.info("email changed", extra={"user_id": user.id})
    return user


def _email_change_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="evosync-email-change")


# --- Links ---------------------------------------------------------------------------------------------------------


def absolute_url(endpoint: str, **values) -> str:
    """A link for an email: BASE_URL plus the route, so it is right from the web, a job or the CLI alike."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path
