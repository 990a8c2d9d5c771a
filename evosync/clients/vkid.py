"""Client of VK ID (OAuth 2.1 with PKCE): the authorize url, code exchange and refresh-token rotation.

Implements https://id.vk.com/about/business/go/docs/ru/vkid/latest/vk-id/connection/tokens/access-token
and the VK ID web flow; facts we rely on are in shared/reference/vk-api.md ("Getting a user token").
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import requests

from evosync.clients.errors import VkIdError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VkIdTokens:
    """A VK ID token pair; ``expires_at`` is epoch seconds. Store both tokens: a refresh rotates them."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: int
    user_id: int | None
    scope: str
    device_id: str


def new_pkce() -> tuple[str, str]:
    """A fresh (code_verifier, code_challenge): 64 chars of a-zA-Z0-9_-, and its S256 base64url digest."""
    verifier = secrets.token_urlsafe(48)  # 48 random bytes -> 64 url-safe chars, no padding
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


class VkIdClient:
    """Gets and refreshes VK user tokens for one VK ID app (``client_id``)."""

    def __init__(
        self,
        base_url: str,
        client_id: str | int,
        *,
        client_secret: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10,
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = str(client_id)
        self._client_secret = client_secret
        self.session = session or requests.Session()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"VkIdClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    new_pkce = staticmethod(new_pkce)

    def authorize_url(self, redirect_uri: str, state: str, code_challenge: str, scope: str = "market") -> str:
        """Where to send the user's browser to log in and grant ``scope``."""
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": scope,
            "code_challenge": code_challenge,
            "code_challenge_method": "s256",
        }
        return f"{self.base_url}/authorize?{urlencode(query, quote_via=quote)}"

    def exchange_code(self, code: str, code_verifier: str, device_id: str, redirect_uri: str, state: str) -> VkIdTokens:
        """Trade the code VK ID redirected back with for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "device_id": device_id,
            "redirect_uri": redirect_uri,
            "state": state,
        }
        return self._token_request(form, device_id, state)

    def refresh(self, refresh_token: str, device_id: str, state: str | None = None) -> VkIdTokens:
        """New access AND refresh tokens; the old refresh token stops working (``revoked``: log in again)."""
        state = state or secrets.token_urlsafe(16)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "device_id": device_id,
            "state": state,
        }
        return self._token_request(form, device_id, state)

    def _token_request(self, form: dict[str, str], device_id: str, state: str) -> VkIdTokens:
        form = {**form, "client_id": self.client_id}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        try:
            response = self.session.post(f"{self.base_url}/oauth2/auth", data=form, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise VkIdError("transport_error", type(exc).__name__, retryable=True) from exc
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("error"):
            error = VkIdError(str(body["error"]), str(body.get("error_description") or ""))
            log.info("vk id %s: %s", form["grant_type"], error.error)
            raise error
        if response.status_code >= 500:
            raise VkIdError("server_error", f"HTTP {response.status_code}", retryable=True)
        if response.status_code != 200 or not isinstance(body, dict):
            raise VkIdError("bad_response", f"HTTP {response.status_code}, not a token answer")
        if body.get("state") not in (None, state):  # an answer to somebody else's request
            raise VkIdError("state_mismatch", "the answer's state is not the one sent")
        try:
            scope = body.get("scope") or ""
            return VkIdTokens(
                access_token=str(body["access_token"]),
                refresh_token=str(body["refresh_token"]),
                expires_at=int(time.time()) + int(body.get("expires_in") or 0),
                user_id=int(body["user_id"]) if body.get("user_id") is not None else None,
                scope=" ".join(scope) if isinstance(scope, list) else str(scope),
                device_id=device_id,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise VkIdError("bad_response", f"token answer lacks {exc}") from exc
