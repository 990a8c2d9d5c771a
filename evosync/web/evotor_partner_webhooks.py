"""Evotor partner webhooks: POST /user/create, /user/verify, /user/token and /evotor/events/install.

Authenticated by ``Authorization: Bearer <EVOTOR_WEBHOOK_SECRET>`` (constant-time), so exempt from CSRF.
Every answer is JSON; every refusal is ``{"errors": [{"code", "reason"}]}`` with Evotor's codes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import openapi
from ..crypto import constant_time_equals
from ..extensions import csrf, db
from ..services import evotor_partner as partner
from ..services.evotor_partner import BAD_PARTNER_SECRET, MALFORMED_BODY, PartnerError

bp = Blueprint("evotor_webhooks", __name__)
log = logging.getLogger(__name__)

INSTALL_EVENTS_PATH = "/evotor/events/install"


def _error(status: int, code: int, reason: str):
    return jsonify({"errors": [{"code": code, "reason": reason}]}), status


def _check_partner_secret() -> PartnerError | None:
    secret = current_app.config.get("EVOTOR_WEBHOOK_SECRET") or ""
    if not secret:
        log.error("EVOTOR_WEBHOOK_SECRET is not set: refusing an Evotor webhook", extra={"path": request.path})
        return PartnerError(503, BAD_PARTNER_SECRET, "Webhooks are not configured on this server")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not constant_time_equals(given.strip(), secret):
        log.warning("evotor webhook with a wrong partner secret", extra={"path": request.path})
        return PartnerError(401, BAD_PARTNER_SECRET, "Wrong or missing partner token")
    return None


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object (any content type: Evotor's is JSON), or a 400 PartnerError."""
    raw = request.get_data(cache=False)  # raises RequestEntityTooLarge past MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise PartnerError(400, MALFORMED_BODY, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise PartnerError(400, MALFORMED_BODY, "The body must be a JSON object")
    return body


def partner_webhook(view: Callable[[dict[str, Any]], Any]):
    """Guard a webhook: partner secret, JSON object body, PartnerError -> Evotor's error JSON, never a 500."""

    @wraps(view)
    def wrapped():
        refusal = _check_partner_secret()
        if refusal is not None:
            return _error(refusal.status, refusal.code, refusal.reason)
        try:
            return view(_json_object())
        except PartnerError as exc:
            db.session.rollback()
            return _error(exc.status, exc.code, exc.reason)
        except RequestEntityTooLarge:
            return _error(413, MALFORMED_BODY, "The body is too large")
        except HTTPException as exc:
            return _error(exc.code or 400, MALFORMED_BODY, exc.description or "Bad request")
        except Exception:
            db.session.rollback()
            log.exception("evotor webhook failed", extra={"path": request.path})
            return _error(503, 503, "Temporary failure on our side; please retry")

    return csrf.exempt(wrapped)


@bp.post("/user/create")
@partner_webhook
def user_create(body: dict[str, Any]):
    return jsonify(partner.create_user(body))


@bp.post("/user/verify")
@partner_webhook
def user_verify(body: dict[str, Any]):
    return jsonify(partner.verify_user(body))


@bp.post("/user/token")
@partner_webhook
def user_token(body: dict[str, Any]):
    partner.store_cloud_token(body)
    return jsonify({})


@bp.post(INSTALL_EVENTS_PATH)
@partner_webhook
def installation_event(body: dict[str, Any]):
    return jsonify({"status": partner.handle_installation_event(body)})


# --------------------------------------------------------------------------------------------- OpenAPI

_ERRORS = {"$ref": "#/components/schemas/EvotorErrors"}


def _responses(ok: dict[str, Any], *extra: int) -> dict[str, Any]:
    described = {
        400: "Malformed JSON (2001), a missing field (2002), a mistyped or invalid field (2003)",
        401: "Wrong or missing partner token (1001), or wrong login/password (1006)",
        409: "userId linked to another account (2004), or the account exists / is linked elsewhere (2005)",
        413: "The body is larger than MAX_CONTENT_LENGTH",
        503: "EVOTOR_WEBHOOK_SECRET is not configured, or a temporary failure: retry",
    }
    responses: dict[str, Any] = {"200": ok}
    for status in (400, 401, 413, 503, *extra):
        responses[str(status)] = {
            "description": described[status],
            "content": {"application/json": {"schema": _ERRORS}},
        }
    return responses


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


openapi.register_schema(
    "EvotorErrors",
    {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["code", "reason"],
                    "properties": {"code": {"type": "integer"}, "reason": {"type": "string"}},
                },
            }
        },
    },
)
openapi.register_schema(
    "EvotorUserAnswer",
    {
        "type": "object",
        "required": ["userId", "token"],
        "properties": {
            "userId": {"type": "string"},
            "token": {"type": "string", "maxLength": 128, "description": "Our api_token for this merchant"},
        },
    },
)
_USER_ID = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "pattern": r"^[\w.:@-]+$",
    "example": "01-000000010409029",
}
_USER_ANSWER = {
    "description": "Linked; our api_token for the merchant",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EvotorUserAnswer"}}},
}
_WEBHOOK = {"tags": ["Evotor webhooks"], "security": [{"partnerSecret": []}]}

openapi.register_path(
    "/user/create",
    "post",
    {
        **_WEBHOOK,
        "summary": "Evotor: create an account for a new Evotor user",
        "description": "Creates a pending account linked to `userId`. The email comes from a custom field "
        "(`email`, top level or under `customFields`); without one the account gets "
        "`evotor-<userId>@evotor.invalid`. Repeats answer the same token.",
        "requestBody": _body(
            {
                "type": "object",
                "required": ["userId"],
                "properties": {
                    "userId": _USER_ID,
                    "email": {"type": "string", "format": "email", "maxLength": 255},
                    "customFields": {"type": "object"},
                },
            }
        ),
        "responses": _responses(_USER_ANSWER, 409),
    },
)
openapi.register_path(
    "/user/verify",
    "post",
    {
        **_WEBHOOK,
        "summary": "Evotor: link an existing account by its login and password",
        "description": "`login` is the account's email (`username`, from the 2017 spec, is accepted too).",
        "requestBody": _body(
            {
                "type": "object",
                "required": ["userId", "password"],
                "properties": {
                    "userId": _USER_ID,
                    "login": {"type": "string", "maxLength": 255},
                    "username": {"type": "string", "maxLength": 255},
                    "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                },
            }
        ),
        "responses": _responses(_USER_ANSWER, 409),
    },
)
openapi.register_path(
    "/user/token",
    "post",
    {
        **_WEBHOOK,
        "summary": "Evotor: the merchant's Evotor cloud token",
        "description": "Stores the token (encrypted); the Evotor connection becomes live. An unknown "
        "`userId` answers 400 with 2003.",
        "requestBody": _body(
            {
                "type": "object",
                "required": ["userId", "token"],
                "properties": {"userId": _USER_ID, "token": {"type": "string", "minLength": 1, "maxLength": 1024}},
            }
        ),
        "responses": _responses(
            {"description": "Stored", "content": {"application/json": {"schema": {"type": "object"}}}}
        ),
    },
)
openapi.register_path(
    INSTALL_EVENTS_PATH,
    "post",
    {
        **_WEBHOOK,
        "summary": "Evotor: application installed / uninstalled",
        "description": "Idempotent by event `id`. Events of unknown users, other apps or other types are "
        "acknowledged (200) and ignored, so Evotor stops retrying them.",
        "requestBody": _body(
            {
                "type": "object",
                "required": ["id", "type", "data"],
                "properties": {
                    "id": {"type": "string", "minLength": 1, "maxLength": 128},
                    "timestamp": {"type": "integer"},
                    "version": {"type": "integer"},
                    "type": {"type": "string", "enum": ["ApplicationInstalled", "ApplicationUninstalled"]},
                    "data": {
                        "type": "object",
                        "required": ["userId"],
                        "properties": {"userId": _USER_ID, "productId": {"type": "string"}},
                    },
                },
            }
        ),
        "responses": _responses(
            {
                "description": "Handled (or acknowledged)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status"],
                            "properties": {
                                "status": {
                                    "type": "string",
                                    "enum": ["applied", "duplicate", "unknown_user", "ignored"],
                                }
                            },
                        }
                    }
                },
            }
        ),
    },
)
