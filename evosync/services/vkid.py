"""VK ID "Connect with VK": the PKCE sign-in, storing the tokens, and choosing the community.

    url = start_flow(user_id)                 # where to send the browser (state + code_verifier kept in Redis)
    conn = finish_flow(user_id, request.args) # callback: state checked (single use), code exchanged, tokens stored
    admin_communities(user_id)                # communities the VK user manages, for the merchant to pick
    choose_community(user_id, "club123")      # store the pick and run the usual connection test

Keeping the tokens fresh afterwards is ``services/vkid_tokens.py``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import gettext as _

from ..clients.errors import VkApiError, VkIdError
from ..clients.vkid import new_pkce
from ..extensions import db
from ..models import ConnectionState, VkConnection, utcnow
from ..redis_conn import get_redis
from .connections import (
    CheckResult,
    NotConnectedError,
    assign_community,
    check_vk,
    get_vk_connection,
    parse_group_ref,
    vk_client_for,
    vk_connection_for_update,
)
from .vkid_tokens import METHOD_VKID, store_tokens, vkid_client

log = logging.getLogger(__name__)

CALLBACK_PATH = "/connections/vk/vkid/callback"
FLOW_KEY = "evosync:vkid:flow:{state}"
FLOW_TTL = 600  # seconds a started sign-in may take (state and code_verifier are forgotten after that)


class VkIdFlowError(Exception):
    """The sign-in could not finish; ``reason`` is state / denied / code / service / not_configured."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason

    @property
    def message(self) -> str:
        """What happened, in the merchant's words, with what to do next."""
        messages = {
            "state": _(
                "This sign-in link is out of date or was already used (it works once, for 10 minutes). "
                'Nothing was changed. Press "Connect with VK" to start again.'
            ),
            "denied": _(
                "You did not allow EvoSync to manage your community's products in VK, so nothing was changed. "
                'Press "Connect with VK" again when you are ready, or paste a token by hand.'
            ),
            "code": _(
                "VK did not accept the sign-in: it took too long or was already used. Nothing was changed. "
                'Press "Connect with VK" to try again.'
            ),
            "service": _("VK ID is not answering right now. Nothing was changed. Please try again in a few minutes."),
            "not_configured": _("Connecting with VK is not set up on this EvoSync server. Paste a VK token instead."),
        }
        return messages.get(self.reason, messages["code"])


# --------------------------------------------------------------------------------------------- settings


def is_configured() -> bool:
    """Whether "Connect with VK" can be offered (VK_ID_CLIENT_ID is set)."""
    return bool(current_app.config.get("VK_ID_CLIENT_ID"))


def redirect_uri() -> str:
    """Where VK ID sends the browser back: BASE_URL + the callback path (register it in the VK ID app)."""
    return current_app.config["BASE_URL"].rstrip("/") + CALLBACK_PATH


def scope() -> str:
    return current_app.config.get("VK_ID_SCOPE") or "market groups"


# --------------------------------------------------------------------------------------------- sign-in


def start_flow(user_id: int) -> str:
    """A fresh state and code_verifier (kept server-side for 10 minutes, usable once); the authorize URL."""
    if not is_configured():
        raise VkIdFlowError("not_configured")
    state = secrets.token_urlsafe(32)
    verifier, challenge = new_pkce()
    record = {"user_id": user_id, "verifier": verifier, "redirect_uri": redirect_uri(), "at": int(time.time())}
    get_redis().set(FLOW_KEY.format(state=state), json.dumps(record), ex=FLOW_TTL)
    log.info("vk id sign-in started", extra={"user_id": user_id})
    return vkid_client().authorize_url(redirect_uri(), state, challenge, scope=scope())


def _take_flow(state: str) -> dict[str, Any] | None:
    """The started sign-in of ``state``, removed in the same step: a second callback finds nothing."""
    if not state or len(state) > 200:
        return None
    pipe = get_redis().pipeline(transaction=True)
    key = FLOW_KEY.format(state=state)
    pipe.get(key)
    pipe.delete(key)
    raw, deleted = pipe.execute()
    if not raw or not deleted:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def finish_flow(user_id: int, args: Mapping[str, str]) -> VkConnection:
    """The callback: check state (this user's, unused, not expired), exchange the code, store the tokens.

    The connection is left "needs attention" until the merchant picks the community (choose_community).
    Raises VkIdFlowError; nothing is stored then.
    """
    flow = _take_flow(args.get("state", ""))
    if flow is None or flow.get("user_id") != user_id:
        log.info("vk id callback with an unknown state", extra={"user_id": user_id})
        raise VkIdFlowError("state")
    if args.get("error"):
        log.info("vk id consent refused", extra={"user_id": user_id, "vkid_error": args.get("error")[:64]})
        raise VkIdFlowError("denied")
    code, device_id = args.get("code", ""), args.get("device_id", "")
    if not code or not device_id:
        raise VkIdFlowError("code", "code or device_id missing")
    try:
        tokens = vkid_client().exchange_code(code, flow["verifier"], device_id, flow["redirect_uri"], args["state"])
    except VkIdError as exc:
        log.info("vk id code exchange failed", extra={"user_id": user_id, "vkid_error": exc.error})
        raise VkIdFlowError("service" if exc.retryable else "code", exc.error) from exc
    conn = vk_connection_for_update(user_id)
    store_tokens(conn, tokens)
    conn.vk_user_id = tokens.user_id
    conn.last_ok_at = None
    conn.market_enabled = None
    conn.state = ConnectionState.BROKEN  # usable once the community is picked and tested
    conn.last_error = _("Signed in with VK. Choose the community to publish to, to finish connecting.")
    conn.last_error_at = utcnow()
    db.session.commit()
    log.info("vk id tokens stored", extra={"user_id": user_id})
    return conn


def vkid_connection(user_id: int) -> VkConnection | None:
    """The user's VK connection when it was made with VK ID and holds a token."""
    conn = get_vk_connection(user_id)
    if conn is None or conn.method != METHOD_VKID or not conn.access_token:
        return None
    return conn


def admin_communities(user_id: int) -> tuple[list[dict[str, Any]], str | None]:
    """Communities the signed-in VK user administers or edits: ([{id, name, screen_name, market_enabled}], problem).

    ``problem`` is a plain-words message when VK would not list them (the merchant can still type an id).
    """
    conn = vkid_connection(user_id)
    if conn is None:
        return [], None
    try:
        groups = vk_client_for(conn, max_retries=1).get_admin_groups()
    except VkApiError as exc:
        log.info("vk id: communities not listed", extra={"user_id": user_id, "vk_error": exc.code})
        return [], _("VK did not list your communities. Type your community's address or number instead.")
    found = []
    for group in groups:
        if not isinstance(group, dict) or "id" not in group:
            continue
        market = group.get("market")
        found.append(
            {
                "id": int(group["id"]),
                "name": str(group.get("name") or ""),
                "screen_name": str(group.get("screen_name") or ""),
                "market_enabled": bool(int(market.get("enabled") or 0)) if isinstance(market, dict) else None,
            }
        )
    return found, None


def choose_community(user_id: int, group: str) -> CheckResult:
    """Store the community picked (any form parse_group_ref accepts) and run the usual VK connection test.

    Raises ValueError for an unreadable community, NotConnectedError without a VK ID connection.
    """
    group_ref = parse_group_ref(group)
    conn = vkid_connection(user_id)
    if conn is None:
        raise NotConnectedError("VK ID is not connected")
    assign_community(conn, group_ref)
    result = check_vk(user_id)
    log.info("vk id community chosen", extra={"user_id": user_id, "ok": result.ok})
    return result
