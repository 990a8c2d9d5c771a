"""Flask-Security wiring: the user datastore, its settings, and the permission decorator."""

from __future__ import annotations

from functools import wraps

from flask import Flask, abort
from flask_login import current_user
from flask_security import SQLAlchemyUserDatastore

from .extensions import db, security
from .models import Role, User

user_datastore = SQLAlchemyUserDatastore(db, User, Role)


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
        "SECURITY_MSG_LOGIN": ("Please log in to open this page.", "info"),
    }


def init_security(app: Flask) -> None:
    for key, value in security_settings(app).items():
        app.config.setdefault(key, value)
    security.init_app(app, user_datastore)


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
