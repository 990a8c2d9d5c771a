"""POST /vk/callback: VK's Callback API for the merchant's community (orders: market_order_new, market_order_edit).

VK sends JSON; the answer is plain text, as VK wants it: the confirmation code for ``type: confirmation``, else
``ok`` at once, with the order read from VK by a worker moments later (services/vk_order_callbacks.py). A wrong secret
answers 403 and stores nothing; a malformed body answers 400 saying what is wrong; a failure on our side answers
503 (VK sends the event again), never a traceback.
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import openapi
from ..extensions import csrf, db
from ..services import vk_order_callbacks

bp = Blueprint("vk_callback", __name__)
log = logging.getLogger(__name__)

CALLBACK_PATH = "/vk/callback"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.post(CALLBACK_PATH)
@csrf.exempt
def callback():
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _text("The body is too large", 413)
    try:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _text("The body is not valid JSON", 400)
        answer, _queued = vk_order_callbacks.accept_callback(body, raw)
        return _text(answer)
    except vk_order_callbacks.CallbackRefused as exc:
        db.session.rollback()
        log.warning("vk callback refused", extra={"status": exc.status, "reason": exc.reason})
        return _text(exc.reason, exc.status)
    except Exception:
        db.session.rollback()
        log.exception("vk callback failed")
        return _text("Temporary failure on our side; please retry", 503)


# --------------------------------------------------------------------------------------------- OpenAPI

openapi.register_tag("VK callbacks", "Called by VK (Callback API of the merchant's community)")
openapi.register_schema(
    "VkCallback",
    {
        "type": "object",
        "required": ["type", "group_id"],
        "description": "VK Callback API request (VKCOM/vk-api-schema callback/objects.json `callback_base`)",
        "properties": {
            "type": {
                "type": "string",
                "description": "`confirmation`, `market_order_new` or `market_order_edit`; other types are "
                "acknowledged with `ok` and ignored",
                "example": "market_order_new",
            },
            "group_id": {"type": "integer", "minimum": 1, "example": 100001},
            "event_id": {"type": "string", "maxLength": 128, "description": "Unique; a repeat is ignored"},
            "v": {"type": "string", "example": "5.199"},
            "secret": {"type": "string", "description": "The secret key the merchant set for this server in VK"},
            "object": {
                "type": "object",
                "description": "For order events: VK's `market_order` (id, group_id, user_id, date, status, "
                "items_count, total_price, comment...)",
                "properties": {"id": {"type": "integer"}, "status": {"type": "integer"}},
            },
        },
    },
)

_PLAIN = {"text/plain": {"schema": {"type": "string"}}}

openapi.register_path(
    CALLBACK_PATH,
    "post",
    {
        "tags": ["VK callbacks"],
        "summary": "VK: an order was placed or changed in the merchant's community",
        "description": "VK's Callback API. `type: confirmation` is answered with the confirmation code the "
        "merchant copied from VK into EvoSync's order settings. Order events are checked against the merchant's "
        "secret key (constant time), recorded under VK's `event_id` (a repeat changes nothing) and answered `ok` at "
        "once; a worker then reads the order's current state from VK (market.getOrderById, market.getOrderItems), "
        "so repeated or out-of-order deliveries cannot overwrite a newer state.",
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VkCallback"}}},
        },
        "responses": {
            "200": {"description": "`ok`, or the confirmation code", "content": _PLAIN},
            "400": {"description": "Malformed JSON or a missing field (said in the body)", "content": _PLAIN},
            "403": {"description": "Unknown community, wrong secret, or no confirmation code set", "content": _PLAIN},
            "413": {"description": "The body is larger than MAX_CONTENT_LENGTH", "content": _PLAIN},
            "503": {"description": "A temporary failure on our side: VK sends the event again", "content": _PLAIN},
        },
    },
)
