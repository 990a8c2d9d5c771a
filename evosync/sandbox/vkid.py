"""Emulator of VK ID (OAuth 2.1 + PKCE): the authorize page, code exchange and refresh-token rotation."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, jsonify, redirect, request

if TYPE_CHECKING:
    from evosync.sandbox.vk import VkState

_VERIFIER = re.compile(r"[A-Za-z0-9_-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


class VkIdError(Exception):
    """An OAuth error answered as ``{"error": ..., "error_description": ...}`` with HTTP 400."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    user_id: int
    code_challenge: str
    scope: str
    device_id: str
    expires_at: float
    used: bool = False


@dataclass
class _Refresh:
    client_id: str
    user_id: int
    device_id: str
    scope: str
    expires_at: float | None
    revoked: bool = False


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (base64url without padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class VkIdState:
    """Clients, pending codes and refresh tokens; tokens it issues are user tokens of the VkState.

    Client ids: while none is registered any client_id is accepted (handy for demos); once one is,
    only registered ids (and their redirect URIs, when given) are.
    """

    def __init__(self, vk: VkState):
        self.vk = vk
        self.reset()

    def reset(self) -> None:
        self.access_token_ttl: float = 3600
        self.code_ttl: float = 60
        self.refresh_token_ttl: float | None = 180 * 24 * 3600
        self._clients: dict[str, set[str] | None] = {}
        self._codes: dict[str, _Code] = {}
        self._refresh: dict[str, _Refresh] = {}

    # ------------------------------------------------------------------ test helpers
    def register_client(self, client_id: str, redirect_uris: list[str] | None = None) -> None:
        with self.vk.lock:
            self._clients[str(client_id)] = set(redirect_uris) if redirect_uris else None

    def expire_access_token(self, token: str) -> None:
        self.vk.expire_token(token)

    def revoke_refresh_token(self, refresh_token: str) -> None:
        with self.vk.lock:
            if refresh_token in self._refresh:
                self._refresh[refresh_token].revoked = True

    def expire_code(self, code: str) -> None:
        with self.vk.lock:
            if code in self._codes:
                self._codes[code].expires_at = time.time() - 1

    # ------------------------------------------------------------------ authorize
    def check_authorize_params(self, params: dict[str, str]) -> None:
        """Refuse what VK ID refuses before showing the consent page."""
        if params.get("response_type") != "code":
            raise VkIdError("unsupported_response_type", "response_type must be 'code'")
        self._check_client(params.get("client_id", ""), params.get("redirect_uri", ""))
        if not params.get("state"):
            raise VkIdError("invalid_request", "state is required")
        if params.get("code_challenge_method", "").lower() != "s256":
            raise VkIdError("invalid_request", "code_challenge_method must be s256")
        if not _CHALLENGE.fullmatch(params.get("code_challenge", "")):
            raise VkIdError("invalid_request", "code_challenge must be 43 base64url characters")

    def _check_client(self, client_id: str, redirect_uri: str) -> None:
        if not client_id:
            raise VkIdError("invalid_client", "client_id is required")
        if not redirect_uri or urlsplit(redirect_uri).scheme not in ("http", "https"):
            raise VkIdError("invalid_request", "redirect_uri must be an absolute http(s) URL")
        with self.vk.lock:
            if self._clients:
                if client_id not in self._clients:
                    raise VkIdError("invalid_client", "unknown client_id")
                allowed = self._clients[client_id]
                if allowed is not None and redirect_uri not in allowed:
                    raise VkIdError("invalid_request", "redirect_uri is not registered for this client")

    def issue_code(self, params: dict[str, str], user_id: int) -> tuple[str, str]:
        """The user pressed Allow: returns (code, device_id)."""
        code = secrets.token_urlsafe(32)
        device_id = secrets.token_urlsafe(24)
        with self.vk.lock:
            self._codes[code] = _Code(
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                user_id=user_id,
                code_challenge=params["code_challenge"],
                scope=params.get("scope", ""),
                device_id=device_id,
                expires_at=time.time() + self.code_ttl,
            )
        return code, device_id

    # ------------------------------------------------------------------ token endpoint
    def exchange(self, params: dict[str, str]) -> dict[str, Any]:
        grant = params.get("grant_type", "")
        if grant == "authorization_code":
            return self._exchange_code(params)
        if grant == "refresh_token":
            return self._refresh_tokens(params)
        raise VkIdError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")

    def _exchange_code(self, params: dict[str, str]) -> dict[str, Any]:
        for name in ("client_id", "code", "code_verifier", "redirect_uri", "device_id"):
            if not params.get(name):
                raise VkIdError("invalid_request", f"{name} is required")
        with self.vk.lock:
            code = self._codes.get(params["code"])
            if code is None or code.used:
                raise VkIdError("invalid_grant", "code is invalid or already used")
            if time.time() >= code.expires_at:
                raise VkIdError("invalid_grant", "code has expired")
            if params["client_id"] != code.client_id:
                raise VkIdError("invalid_grant", "code was issued to another client")
            if params["redirect_uri"] != code.redirect_uri:
                raise VkIdError("invalid_grant", "redirect_uri does not match")
            if params["device_id"] != code.device_id:
                raise VkIdError("invalid_grant", "device_id does not match")
            verifier = params["code_verifier"]
            if not _VERIFIER.fullmatch(verifier) or s256(verifier) != code.code_challenge:
                raise VkIdError("invalid_grant", "code_verifier does not match code_challenge")
            code.used = True
            self.vk.count("token_exchanges")
            return self._issue(code.client_id, code.user_id, code.device_id, code.scope, params.get("state"))

    def _refresh_tokens(self, params: dict[str, str]) -> dict[str, Any]:
        for name in ("client_id", "refresh_token", "device_id"):
            if not params.get(name):
                raise VkIdError("invalid_request", f"{name} is required")
        with self.vk.lock:
            old = self._refresh.get(params["refresh_token"])
            if old is None or old.revoked:
                raise VkIdError("invalid_grant", "refresh token is invalid or already used")
            if old.expires_at is not None and time.time() >= old.expires_at:
                raise VkIdError("invalid_grant", "refresh token has expired")
            if params["client_id"] != old.client_id or params["device_id"] != old.device_id:
                raise VkIdError("invalid_grant", "client_id or device_id does not match the refresh token")
            old.revoked = True  # rotation: the old refresh token stops working
            self.vk.count("token_refreshes")
            return self._issue(old.client_id, old.user_id, old.device_id, old.scope, params.get("state"))

    def _issue(self, client_id: str, user_id: int, device_id: str, scope: str, state: str | None) -> dict:
        access_token = "vk2.a." + secrets.token_urlsafe(48)
        refresh_token = "vk2.r." + secrets.token_urlsafe(48)
        self.vk.add_user(access_token, user_id=user_id, expires_in=self.access_token_ttl)
        expires_at = time.time() + self.refresh_token_ttl if self.refresh_token_ttl is not None else None
        self._refresh[refresh_token] = _Refresh(client_id, user_id, device_id, scope, expires_at)
        now = int(time.time())
        claims = {"iss": "VK", "sub": user_id, "aud": client_id, "iat": now, "exp": now + 3600}
        id_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.sandbox"
        answer: dict[str, Any] = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_ttl),
            "user_id": user_id,
            "scope": scope,
        }
        if state is not None:
            answer["state"] = state
        return answer

    def user_info(self, params: dict[str, str]) -> dict[str, Any]:
        user_id = self.vk.token_user(params.get("access_token", ""))
        if user_id is None:
            raise VkIdError("invalid_token", "access_token is invalid")
        return {"user": {"user_id": str(user_id), "first_name": "Sandbox", "last_name": f"User {user_id}"}}


_AUTHORIZE_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "scope",
    "code_challenge",
    "code_challenge_method",
)


def _consent_page(params: dict[str, str], user_ids: list[int], selected: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">' for name in _AUTHORIZE_FIELDS
    )
    options = "".join(
        f'<option value="{uid}"{" selected" if str(uid) == selected else ""}>VK user {uid}</option>' for uid in user_ids
    )
    options += '<option value="new">a new VK user</option>'
    return (
        "<!doctype html><html lang='ru'><head><meta charset='utf-8'><title>VK ID (sandbox)</title></head>"
        "<body><h1>VK ID — sandbox</h1>"
        f"<p>Application <b>{html.escape(params.get('client_id', ''))}</b> asks for access: "
        f"<code>{html.escape(params.get('scope', ''))}</code></p>"
        f'<form method="post">{hidden}'
        f'<label>Sign in as <select name="user_id">{options}</select></label> '
        '<button type="submit" name="decision" value="allow" id="allow">Allow</button> '
        '<button type="submit" name="decision" value="deny" id="deny">Deny</button>'
        "</form></body></html>"
    )


def _error_page(exc: VkIdError) -> Response:
    message = f"{html.escape(exc.error)}: {html.escape(exc.description)}"
    body = f"<!doctype html><html><body><h1>VK ID error</h1><p>{message}</p></body></html>"
    return Response(body, status=400, mimetype="text/html")


def _oauth_error(exc: VkIdError, state: str | None) -> Response:
    body: dict[str, Any] = {"error": exc.error, "error_description": exc.description}
    if state:
        body["state"] = state
    response = jsonify(body)
    response.status_code = 400
    return response


def create_vkid_blueprint(state: VkState) -> Blueprint:
    """Routes of the VK ID emulator; mount at url_prefix "/vkid". ``state`` is the VkState."""
    bp = Blueprint("vkid_emulator", __name__)
    vkid = state.vkid

    @bp.route("/authorize", methods=["GET"])
    def authorize_page() -> Response:
        params = {name: request.args.get(name, "") for name in _AUTHORIZE_FIELDS}
        try:
            vkid.check_authorize_params(params)
        except VkIdError as exc:
            return _error_page(exc)
        user_ids = state.user_ids
        selected = request.args.get("login_as") or (str(user_ids[0]) if user_ids else "new")
        return Response(_consent_page(params, user_ids, selected), mimetype="text/html")

    @bp.route("/authorize", methods=["POST"])
    def authorize_decision() -> Response:
        params = {name: request.form.get(name, "") for name in _AUTHORIZE_FIELDS}
        try:
            vkid.check_authorize_params(params)
        except VkIdError as exc:
            return _error_page(exc)
        if request.form.get("decision") != "allow":
            target = _with_query(params["redirect_uri"], {"error": "access_denied", "state": params["state"]})
            return redirect(target, code=302)
        chosen = request.form.get("user_id", "new")
        if chosen in ("", "new"):
            user_id = state.new_user_id()
        elif chosen.isdigit() and int(chosen) in state.user_ids:
            user_id = int(chosen)
        else:
            return _error_page(VkIdError("invalid_request", "unknown user"))
        code, device_id = vkid.issue_code(params, user_id)
        target = _with_query(
            params["redirect_uri"],
            {"code": code, "state": params["state"], "device_id": device_id, "type": "code_v2"},
        )
        return redirect(target, code=302)

    @bp.route("/oauth2/auth", methods=["POST"])
    def token() -> Response:
        params = {key: request.values.get(key, "") for key in request.values}
        try:
            return jsonify(vkid.exchange(params))
        except VkIdError as exc:
            return _oauth_error(exc, params.get("state"))

    @bp.route("/oauth2/user_info", methods=["POST"])
    def user_info() -> Response:
        params = {key: request.values.get(key, "") for key in request.values}
        try:
            return jsonify(vkid.user_info(params))
        except VkIdError as exc:
            return _oauth_error(exc, None)

    @bp.route("/oauth2/revoke", methods=["POST"])
    def revoke() -> Response:
        state.revoke_token(request.values.get("access_token", ""))
        return jsonify({"response": 1})

    return bp
