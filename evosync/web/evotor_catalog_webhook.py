"""POST /evotor/events/catalog: Evotor's catalog-change webhooks (products, groups, images, stores).

Authenticated by ``X-Hub-Signature: sha1=<hex HMAC-SHA1(body, secret)>`` (see services/evotor_events/signature.py
for which secrets verify), so exempt from CSRF. A verified, well-formed event is recorded and answered at once
(``queued``); the worker applies it to the mirror moments later. Every answer is JSON; refusals are
``{"errors": [{"code": <HTTP status>, "reason": "..."}]}``; a failure on our side answers 503 (Evotor
retries), never 500.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import openapi
from ..extensions import csrf, db
from ..services.evotor_events import form, queue, signature

bp = Blueprint("evotor_events", __name__)
log = logging.getLogger(__name__)

CATALOG_EVENTS_PATH = "/evotor/events/catalog"

_SIGNATURE_REFUSALS = {
    signature.SIGNATURE_MISSING: (401, "The X-Hub-Signature header is missing"),
    signature.SIGNATURE_ALGORITHM: (401, "Unsupported signature: expected X-Hub-Signature: sha1=<hex HMAC-SHA1>"),
    signature.SIGNATURE_MISMATCH: (401, "The signature does not match the body"),
    signature.SIGNATURE_NOT_CONFIGURED: (503, "Catalog webhooks are not configured on this server"),
}


def _error(status: int, reason: str):
    return jsonify({"errors": [{"code": status, "reason": reason}]}), status


@bp.post(CATALOG_EVENTS_PATH)
@csrf.exempt
def catalog_event():
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, "The body is too large")
    try:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None  # only the app-wide secret can vouch for it; signed, it answers 400
        header = request.headers.get(signature.SIGNATURE_HEADER)
        problem = signature.verify_signature(raw, header, body)
        if problem is not None:
            status, reason = _SIGNATURE_REFUSALS[problem]
            level = logging.ERROR if status == 503 else logging.WARNING
            log.log(level, "catalog event refused", extra={"problem": problem})
            return _error(status, reason)
        if body is None:
            return _error(400, "The body is not valid JSON")
        outcome = queue.accept_event(body, raw)
        return jsonify(outcome.as_dict())
    except form.EventError as exc:
        db.session.rollback()
        return _error(400, str(exc))
    except Exception:
        db.session.rollback()
        log.exception("catalog event failed")
        return _error(503, "Temporary failure on our side; please retry")


# --------------------------------------------------------------------------------------------- OpenAPI

_ERRORS = {"$ref": "#/components/schemas/EvotorErrors"}  # the same error body as the partner webhooks

openapi.register_security_scheme(
    "hubSignature",
    {
        "type": "apiKey",
        "in": "header",
        "name": "X-Hub-Signature",
        "description": "`sha1=<hex HMAC-SHA1(raw body, secret)>`; the secret is EVOTOR_WEBHOOK_SECRET or the "
        "merchant's own webhook signing secret",
    },
)
openapi.register_schema(
    "CatalogEvent",
    {
        "type": "object",
        "required": ["id", "type", "action", "payload"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 128},
            "timestamp": {"type": "integer", "description": "Epoch milliseconds"},
            "type": {
                "type": "string",
                "enum": list(form.EVENT_TYPES),
                "description": "Other types are acknowledged and ignored",
            },
            "action": {"type": "string", "enum": list(form.ACTIONS)},
            "payload": {
                "type": "object",
                "description": "The resource as Evotor's v2 API shows it, with `user_id` and `store_id` "
                "(a store's own `id` for StoreEvent; `product_id` for ProductImageEvent)",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "user_id": {"type": "string", "example": "01-000000010409029"},
                    "store_id": {"type": "string"},
                    "product_id": {"type": "string"},
                    "updated_at": {"type": "string", "example": "2018-08-29T15:08:56.664+0000"},
                },
            },
        },
    },
)


def _error_response(text: str) -> dict:
    return {"description": text, "content": {"application/json": {"schema": _ERRORS}}}


openapi.register_path(
    CATALOG_EVENTS_PATH,
    "post",
    {
        "tags": ["Evotor webhooks"],
        "security": [{"hubSignature": []}],
        "summary": "Evotor: a product, group, image or store changed",
        "description": "Records the event and answers at once (`queued`); a worker applies it to the merchant's "
        "catalog mirror moments later, in arrival order, and schedules one VK sync SYNC_DEBOUNCE_SECONDS later "
        "(a burst of events becomes one sync). Idempotent by event `id`: a repeated delivery answers "
        "`duplicate` and changes nothing. Unknown types are acknowledged as `ignored`; events of unknown "
        "merchants and stale updates are acknowledged too, so Evotor stops redelivering them.",
        "parameters": [
            {
                "name": "X-Hub-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "pattern": "^sha1=[0-9a-f]{40}$"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CatalogEvent"}}},
        },
        "responses": {
            "200": {
                "description": "Recorded (or acknowledged)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status", "event_id"],
                            "properties": {
                                "status": {
                                    "type": "string",
                                    "enum": [form.QUEUED, form.DUPLICATE, form.IGNORED],
                                    "description": "queued: recorded, applied moments later; duplicate: "
                                    "delivered before, nothing changes; ignored: a type or action EvoSync "
                                    "does not handle",
                                },
                                "event_id": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "400": _error_response("Malformed JSON or a missing field"),
            "401": _error_response("Missing signature, not sha1, or a signature that does not match"),
            "413": _error_response("The body is larger than MAX_CONTENT_LENGTH"),
            "503": _error_response("No signing secret is configured, or a temporary failure: retry"),
        },
    },
)
