"""Flask-Security wiring: settings, our login form (throttling) and mail hook, signals, permission decorator.

The user datastore is ``models/datastore.py`` (services use it too)."""

from __future__ import annotations

import math
from functools import wraps

from flask import Flask, abort, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_security import LoginForm, MailUtil
from flask_security.signals import password_reset, user_authenticated, user_confirmed, user_registered
from markupsafe import Markup, escape

from .extensions import security
from .models.datastore import user_datastore
from .services import accounts, notifications


def security_settings(app: Flask) -> dict:
    return {
        "SECURITY_PASSWORD_HASH": "argon2",
        "SECURITY_PASSWORD_SALT": app.config["SECRET_KEY"],
        "SECURITY_EMAIL_VALIDATOR_ARGS": {"check_deliverability": False},
        "SECURITY_REGISTERABLE": True,
        "SECURITY_CONFIRMABLE": True,
        "SECURITY_RECOVERABLE": True,
        "SECURITY_CHANGEABLE": True,
        "SECURITY_TRACKABLE": True,
        "SECURITY_SEND_REGISTER_EMAIL": True,
        "SECURITY_PASSWORD_CONFIRM_REQUIRED": True,
        "SECURITY_URL_PREFIX": None,
        "SECURITY_LOGIN_URL": "/login",
        "SECURITY_LOGOUT_URL": "/logout",
        "SECURITY_REGISTER_URL": "/register",
        "SECURITY_CONFIRM_URL": "/confirm-email",
        "SECURITY_RESET_URL": "/reset-password",
        "SECURITY_CHANGE_URL": "/profile/change-password",
        "SECURITY_POST_LOGIN_VIEW": "/profile",
        "SECURITY_POST_LOGOUT_VIEW": "/login",
        "SECURITY_POST_REGISTER_VIEW": "/login",
        "SECURITY_POST_CONFIRM_VIEW": "/login",
        "SECURITY_POST_CHANGE_VIEW": "/profile",
        "SECURITY_USERNAME_ENABLE": False,
        "SECURITY_RESET_PASSWORD_WITHIN": "2 hours",
        "SECURITY_CONFIRM_EMAIL_WITHIN": "3 days",
        "SECURITY_LOGOUT_METHODS": ["GET", "POST"],
        "SECURITY_POST_RESET_VIEW": "/login",
        # A wrong or stale confirmation link, and a pending user who tries to log in, land on the resend page.
        "SECURITY_CONFIRM_ERROR_VIEW": "/resend-confirm",
        "SECURITY_REQUIRES_CONFIRMATION_ERROR_VIEW": "/resend-confirm",
        "SECURITY_EMAIL_SUBJECT_REGISTER": _l("Welcome to EvoSync: please confirm your email"),
        "SECURITY_EMAIL_SUBJECT_CONFIRM": _l("Please confirm your email"),
        "SECURITY_EMAIL_SUBJECT_PASSWORD_RESET": _l("Set a new EvoSync password"),
        "SECURITY_EMAIL_SUBJECT_PASSWORD_NOTICE": _l("Your EvoSync password has been reset"),
        "SECURITY_EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE": _l("Your EvoSync password has been changed"),
        **{f"SECURITY_MSG_{key}": value for key, value in MESSAGES.items()},
    }


# Flask-Security's messages, reworded for merchants and marked for our catalog.
MESSAGES = {
    "LOGIN": (_l("Please log in to open this page."), "info"),
    "USER_DOES_NOT_EXIST": (_l("Wrong email or password."), "error"),
    "INVALID_PASSWORD": (_l("Wrong email or password."), "error"),
    "DISABLED_ACCOUNT": (
        _l("Your account is suspended, so you cannot log in. If you think this is a mistake, contact support."),
        "error",
    ),
    "CONFIRMATION_REQUIRED": (
        _l(
            "Please confirm your email address first: open the link in the email we sent you. "
            "No email? Send yourself a new link below."
        ),
        "warning",
    ),
    "CONFIRM_REGISTRATION": (
        _l("Almost done: we have sent a link to %(email)s. Open it to confirm your address, then log in."),
        "success",
    ),
    "EMAIL_CONFIRMED": (_l("Thank you, your email is confirmed. You can log in now."), "success"),
    "ALREADY_CONFIRMED": (_l("Your email is already confirmed. Log in with your password."), "info"),
    "INVALID_CONFIRMATION_TOKEN": (
        _l("This confirmation link is not valid. Enter your email below to get a new one."),
        "error",
    ),
    "CONFIRMATION_EXPIRED": (
        _l("This confirmation link has expired (links work for %(within)s). Enter your email below to get a new one."),
        "error",
    ),
    "EMAIL_ALREADY_ASSOCIATED": (
        _l("%(email)s already has an account. Log in, or reset your password if you forgot it."),
        "error",
    ),
    "INVALID_RESET_PASSWORD_TOKEN": (
        _l("This password link is not valid or has already been used. Ask for a new one below."),
        "error",
    ),
    "PASSWORD_RESET_EXPIRED": (
        _l("This password link has expired (links work for %(within)s). Ask for a new one below."),
        "error",
    ),
    "PASSWORD_RESET_NO_LOGIN": (_l("Your new password is set. Log in with it now."), "success"),
    "PASSWORD_CHANGE": (_l("Your password has been changed."), "success"),
}


class EvoSyncLoginForm(LoginForm):
    """Flask-Security's login form, plus throttling: too many failures per account or per address lock it a while.

    The lock is checked before the password, so a locked account gives nothing away about the password.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.password.description = Markup('<a href="{}">{}</a>').format(
            url_for("auth_extra.forgot_password"), escape(_l("Forgot your password?"))
        )

    def validate(self, **kwargs) -> bool:
        ip = request.remote_addr
        if wait := accounts.ip_lock_seconds_left(ip):
            self.form_errors.append(_lock_message(wait, account=False))
            return False
        candidate = accounts.find_user_by_email(self.email.data) if self.email.data else None
        if candidate is not None and (wait := accounts.account_lock_seconds_left(candidate)):
            self.form_errors.append(_lock_message(wait, account=True))
            return False
        if super().validate(**kwargs):
            return True
        # Credentials were tried and did not match (an unknown email counts against the address only).
        if self.email.data and self.password.data and not self.user_authenticated:
            accounts.record_failed_login(self.user, ip)
        return False


def _lock_message(seconds: int, account: bool) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    if account:
        return ngettext(
            "Too many failed attempts: this account is locked for %(num)d more minute. "
            "Wait, or set a new password with “Forgot your password?”.",
            "Too many failed attempts: this account is locked for %(num)d more minutes. "
            "Wait, or set a new password with “Forgot your password?”.",
            minutes,
        )
    return ngettext(
        "Too many failed logins from your network. Please wait %(num)d minute and try again.",
        "Too many failed logins from your network. Please wait %(num)d minutes and try again.",
        minutes,
    )


class EvoSyncMailUtil(MailUtil):
    """Flask-Security's emails (confirm, reset, notices) go through our notifications service, so they are queued."""

    def send_mail(self, template, subject, recipient, sender, body, html, **kwargs) -> None:
        notifications.send_email(str(recipient), str(subject), body or "", html)


def _on_user_confirmed(sender, user, **extra) -> None:
    accounts.on_email_confirmed(user)


def _on_user_registered(sender, user, **extra) -> None:
    accounts.on_registered(user)


def _on_user_authenticated(sender, user, **extra) -> None:
    accounts.clear_failed_logins(user)


def _on_password_reset(sender, user, **extra) -> None:
    accounts.on_password_reset(user)


def _redirect_to(endpoint: str, token_endpoint: str):
    """Flask-Security's bare /confirm-email and /reset-password go to our pages; a link of the form
    ``?token=...`` (as some mail clients and seeds write it) goes to the token's own page instead."""

    def view(*args, **kwargs):
        token = request.args.get("token", "").strip()
        if token:
            return redirect(url_for(token_endpoint, token=token))
        return redirect(url_for(endpoint))

    return view


def init_security(app: Flask) -> None:
    for key, value in security_settings(app).items():
        app.config.setdefault(key, value)
    # The mail util is a constructor option of Security(); extensions.py builds it bare (it cannot import our
    # services without a cycle), so the class is set here, before init_app instantiates it.
    security._mail_util_cls = EvoSyncMailUtil
    security.init_app(app, user_datastore, login_form=EvoSyncLoginForm)
    # Flask-Security's own "send me a link" forms say whether an address has an account; ours
    # (/forgot-password, /resend-confirm in web/auth_extra.py) answer the same either way.
    app.view_functions["security.forgot_password"] = _redirect_to(
        "auth_extra.forgot_password", "security.reset_password"
    )
    app.view_functions["security.send_confirmation"] = _redirect_to(
        "auth_extra.resend_confirm", "security.confirm_email"
    )
    # The session is the only way in: EvoSync hands out no authentication tokens. Flask-Security's request loader
    # would look for one on every anonymous request, parsing each JSON body (every catalog webhook) to do so.
    app.login_manager.request_loader(_no_token_login)
    user_confirmed.connect(_on_user_confirmed)
    user_registered.connect(_on_user_registered)
    user_authenticated.connect(_on_user_authenticated)
    password_reset.connect(_on_password_reset)


def _no_token_login(_request) -> None:
    return None


def permission_required(*permissions: str):
    """Allow the view only to users whose roles grant every listed permission (read from the RBAC tables)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return security.login_manager.unauthorized()
            if not all(current_user.has_permission(p) for p in permissions):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
