"""Evotor's partner webhooks: link an Evotor user to an EvoSync account, store the cloud token, installs.

Contract: shared/reference/evotor-api.md ("Webhooks Evotor calls on our server"). Every refusal is a
PartnerError carrying the HTTP status and Evotor's error code; the web layer turns it into
``{"errors": [{"code", "reason"}]}``. All operations are idempotent: Evotor repeats deliveries.

Accounts created by /user/create are *pending* and have no password. With an email (from a custom field)
the merchant gets a welcome email at once: its link sets a password, confirms the address and logs them in
("Forgot password" works as well). Without an email the account gets a placeholder address
``evotor-<userId>@evotor.invalid`` (the reserved .invalid domain never receives mail): the Evotor connection
works at once, and an admin claims the account for its owner by giving it a real email and sending an invite;
a merchant who already has an account links it through /user/verify instead. When Evotor sends the cloud
token (/user/token) the catalog refresh is queued at once, whatever the account's status.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_security.utils import verify_and_update_password

from ..crypto import secret_box
from ..extensions import db
from ..models import ConnectionState, EvotorConnection, User, UserStatus, WebhookEvent
from ..models.datastore import user_datastore
from ..queues import HIGH
from .accounts import send_welcome
from .connections import SOURCE_WEBHOOK, evotor_connection_for_update
from .refreshes import request_catalog_refresh

log = logging.getLogger(__name__)

# Evotor's error codes (shared/reference/evotor-api.md); 2001-2003 are split by what was wrong.
BAD_PARTNER_SECRET = 1001
WRONG_LOGIN_OR_PASSWORD = 1006
MALFORMED_BODY = 2001  # not JSON, or not a JSON object
MISSING_FIELD = 2002
INVALID_FIELD = 2003  # wrong type or an unacceptable value
USER_ID_LINKED_ELSEWHERE = 2004
ACCOUNT_EXISTS = 2005

PLACEHOLDER_EMAIL_DOMAIN = "evotor.invalid"
API_TOKEN_BYTES = 48  # -> 64 url-safe characters; Evotor accepts up to 128
EMAIL_KEYS = ("email", "e-mail", "mail", "почта")
INSTALLED = "ApplicationInstalled"
UNINSTALLED = "ApplicationUninstalled"


class PartnerError(Exception):
    """A refusal Evotor understands: HTTP ``status`` and Evotor's ``code``, ``reason`` for people."""

    def __init__(self, status: int, code: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.code = code
        self.reason = reason

    def as_json(self) -> dict[str, Any]:
        return {"errors": [{"code": self.code, "reason": self.reason}]}


# --------------------------------------------------------------------------------------------- validation


def require_str(body: dict[str, Any], name: str, max_length: int, *, min_length: int = 1) -> str:
    """``body[name]`` as a string of allowed length, or a 400 PartnerError (2002 missing, 2003 invalid)."""
    if name not in body or body[name] is None:
        raise PartnerError(400, MISSING_FIELD, f"Field '{name}' is required")
    value = body[name]
    if not isinstance(value, str):
        raise PartnerError(400, INVALID_FIELD, f"Field '{name}' must be a string")
    if not min_length <= len(value) <= max_length or "\x00" in value:
        raise PartnerError(400, INVALID_FIELD, f"Field '{name}' must be {min_length}..{max_length} characters")
    return value


def require_user_id(body: dict[str, Any]) -> str:
    user_id = require_str(body, "userId", 64).strip()
    if not user_id or not re.fullmatch(r"[\w.:@-]+", user_id):
        raise PartnerError(400, INVALID_FIELD, "Field 'userId' is not an Evotor user id")
    return user_id


def email_from_custom_fields(body: dict[str, Any]) -> str | None:
    """The email Evotor passes in a custom field (top level or under customFields), normalised; None if absent.

    Raises a 400 PartnerError when a field is there but holds no valid address.
    """
    candidates: list[Any] = []
    for container in (body, body.get("customFields"), body.get("custom_fields")):
        if isinstance(container, dict):
            candidates += [v for k, v in container.items() if isinstance(k, str) and k.lower() in EMAIL_KEYS]
    for value in candidates:
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 255:
            raise PartnerError(400, INVALID_FIELD, "Field 'email' must be an email address")
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            raise PartnerError(400, INVALID_FIELD, "Field 'email' must be an email address") from None
    return None


def placeholder_email(evotor_user_id: str) -> str:
    safe = re.sub(r"[^a-z0-9.-]", "-", evotor_user_id.lower())
    return f"evotor-{safe}@{PLACEHOLDER_EMAIL_DOMAIN}"


# --------------------------------------------------------------------------------------------- helpers


def _connection_by_evotor_user(evotor_user_id: str) -> EvotorConnection | None:
    return db.session.execute(db.select(EvotorConnection).filter_by(evotor_user_id=evotor_user_id)).scalar_one_or_none()


def _user_by_email(email: str) -> User | None:
    return db.session.execute(db.select(User).where(sa.func.lower(User.email) == email.lower())).scalar_one_or_none()


def _ensure_api_token(conn: EvotorConnection) -> str:
    """Our token for this merchant (stored encrypted, found by its keyed hash); made once, then reused."""
    if not conn.api_token:
        token = secrets.token_urlsafe(API_TOKEN_BYTES)
        conn.api_token = token
        conn.api_token_hash = secret_box.lookup_hash(token)
    return conn.api_token


def _answer(conn: EvotorConnection) -> dict[str, str]:
    return {"userId": conn.evotor_user_id or "", "token": _ensure_api_token(conn)}


def _commit_or_conflict() -> None:
    """Commit; a concurrent delivery that won a unique constraint becomes a 409 the retry resolves."""
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        raise PartnerError(409, ACCOUNT_EXISTS, "A concurrent request changed this account; retry") from None


# --------------------------------------------------------------------------------------------- webhooks


def create_user(body: dict[str, Any]) -> dict[str, str]:
    """POST /user/create: a pending account linked to the Evotor userId; our api_token for it.

    A repeat for a userId already linked answers the same token (unless a different email is given:
    2004). An email that belongs to an existing, unlinked account answers 2005 (use /user/verify).
    """
    evotor_user_id = require_user_id(body)
    email = email_from_custom_fields(body)
    conn = _connection_by_evotor_user(evotor_user_id)
    if conn is not None:
        owner = db.session.get(User, conn.user_id)
        if email and owner is not None and owner.email.lower() != email:
            raise PartnerError(409, USER_ID_LINKED_ELSEWHERE, "This Evotor user is linked to another account")
        answer = _answer(conn)
        _commit_or_conflict()
        return answer
    email = email or placeholder_email(evotor_user_id)
    if _user_by_email(email) is not None:
        raise PartnerError(409, ACCOUNT_EXISTS, "An account with this email exists; log in to link it")
    user = user_datastore.create_user(email=email, password=None, roles=[user_datastore.find_role("user")])
    user.status = UserStatus.PENDING
    db.session.flush()
    conn = evotor_connection_for_update(user.id)
    conn.evotor_user_id = evotor_user_id
    conn.source = SOURCE_WEBHOOK
    answer = _answer(conn)
    _commit_or_conflict()
    placeholder = email.endswith("@" + PLACEHOLDER_EMAIL_DOMAIN)
    log.info("evotor user/create: account created", extra={"user_id": user.id, "placeholder": placeholder})
    if not placeholder:
        send_welcome(user)
    return answer


def verify_user(body: dict[str, Any]) -> dict[str, str]:
    """POST /user/verify: check an existing account's login (email) and password, link it, answer its token."""
    evotor_user_id = require_user_id(body)
    login_field = "login" if body.get("login") is not None or "username" not in body else "username"
    login = require_str(body, login_field, 255).strip()
    password = require_str(body, "password", 1024)
    user = _user_by_email(login) if login else None
    if user is None or not user.password or not verify_and_update_password(password, user):
        db.session.rollback()
        raise PartnerError(401, WRONG_LOGIN_OR_PASSWORD, "Wrong login or password")
    if user.status == UserStatus.SUSPENDED:
        raise PartnerError(401, WRONG_LOGIN_OR_PASSWORD, "This account is suspended")
    linked = _connection_by_evotor_user(evotor_user_id)
    if linked is not None and linked.user_id != user.id:
        raise PartnerError(409, USER_ID_LINKED_ELSEWHERE, "This Evotor user is linked to another account")
    conn = evotor_connection_for_update(user.id)
    if conn.evotor_user_id and conn.evotor_user_id != evotor_user_id:
        raise PartnerError(409, ACCOUNT_EXISTS, "This account is already linked to another Evotor user")
    conn.evotor_user_id = evotor_user_id
    answer = _answer(conn)
    _commit_or_conflict()
    log.info("evotor user/verify: account linked", extra={"user_id": user.id})
    return answer


def store_cloud_token(body: dict[str, Any]) -> None:
    """POST /user/token: keep the Evotor cloud token of a linked user; the connection goes live."""
    evotor_user_id = require_user_id(body)
    token = require_str(body, "token", 1024).strip()
    if not token:
        raise PartnerError(400, INVALID_FIELD, "Field 'token' must not be blank")
    conn = _connection_by_evotor_user(evotor_user_id)
    if conn is None:
        raise PartnerError(400, INVALID_FIELD, "Unknown userId: call /user/create or /user/verify first")
    if conn.access_token != token:
        conn.access_token = token
        conn.last_ok_at = None
    conn.source = SOURCE_WEBHOOK
    conn.state = ConnectionState.CONNECTED
    conn.app_installed = True
    conn.last_error = None
    conn.last_error_at = None
    _commit_or_conflict()
    log.info("evotor user/token: cloud token stored", extra={"user_id": conn.user_id})
    _queue_first_refresh(conn.user_id)


def _queue_first_refresh(user_id: int) -> None:
    """Mirror the catalog now that we may read it (pending accounts included: the scheduled refresh skips
    them until they are active). Redis trouble is logged; Evotor's delivery still succeeds."""
    try:
        request_catalog_refresh(user_id, queue=HIGH, sync_after=False)
    except Exception as exc:  # noqa: BLE001 - the token is stored; the next scheduled refresh catches up
        log.warning(
            "catalog refresh not queued after user/token", extra={"user_id": user_id, "error": type(exc).__name__}
        )


def handle_installation_event(body: dict[str, Any]) -> str:
    """ApplicationInstalled / ApplicationUninstalled: update the connection; once per event id.

    Returns what happened: "applied", "duplicate", "unknown_user" or "ignored" (another app or type).
    Events of unknown users or types are acknowledged, not refused: Evotor would retry them for 3 days.
    """
    event_id = require_str(body, "id", 128).strip()
    event_type = require_str(body, "type", 64)
    data = body.get("data")
    if data is None:
        raise PartnerError(400, MISSING_FIELD, "Field 'data' is required")
    if not isinstance(data, dict):
        raise PartnerError(400, INVALID_FIELD, "Field 'data' must be an object")
    evotor_user_id = require_user_id(data)
    product_id = data.get("productId")
    if product_id is not None and not isinstance(product_id, str):
        raise PartnerError(400, INVALID_FIELD, "Field 'data.productId' must be a string")
    if not event_id:
        raise PartnerError(400, INVALID_FIELD, "Field 'id' must not be blank")

    if db.session.execute(db.select(WebhookEvent.id).filter_by(event_id=event_id)).first() is not None:
        return "duplicate"
    conn = _connection_by_evotor_user(evotor_user_id)
    app_id = current_app.config.get("EVOTOR_APP_ID")
    outcome = "applied"
    if event_type not in (INSTALLED, UNINSTALLED) or (app_id and product_id and product_id != app_id):
        outcome = "ignored"
    elif conn is None:
        outcome = "unknown_user"
    elif event_type == INSTALLED:
        conn.app_installed = True
        if conn.access_token and conn.state == ConnectionState.NOT_CONNECTED:
            conn.state = ConnectionState.CONNECTED
    else:
        # The cloud token dies with the app; a reinstall delivers a new one through /user/token.
        conn.app_installed = False
        conn.access_token = None
        conn.state = ConnectionState.NOT_CONNECTED
    db.session.add(WebhookEvent(event_id=event_id, event_type=event_type[:64], user_id=conn.user_id if conn else None))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # the same event delivered twice at once: the other one applied it
        db.session.rollback()
        return "duplicate"
    log.info("evotor installation event", extra={"event_type": event_type[:64], "outcome": outcome})
    return outcome
