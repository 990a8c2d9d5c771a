"""Secrets at rest: Fernet encryption of tokens, and keyed hashes to look secrets up without storing them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


class SecretBox:
    """Holds the key; bound once by create_app(), used by the EncryptedText column type."""

    def __init__(self) -> None:
        self._fernet: Fernet | None = None
        self._hash_key: bytes = b""

    def configure(self, encryption_key: str, secret_key: str) -> None:
        if encryption_key:
            try:
                fernet = Fernet(encryption_key.encode())
            except (ValueError, TypeError):
                # Any passphrase works too: derive a Fernet key from it.
                fernet = Fernet(_derive(encryption_key))
        else:
            fernet = Fernet(_derive(secret_key))
        self._fernet = fernet
        self._hash_key = hashlib.sha256(b"evosync-lookup:" + (encryption_key or secret_key).encode()).digest()

    @property
    def fernet(self) -> Fernet:
        if self._fernet is None:
            raise RuntimeError("secret box used before create_app() configured it")
        return self._fernet

    def encrypt(self, value: str) -> str:
        return self.fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        try:
            return self.fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            # A key change must not crash pages: the secret is treated as lost and the merchant reconnects.
            log.error("a stored secret cannot be decrypted with the current ENCRYPTION_KEY")
            return ""

    def lookup_hash(self, value: str) -> str:
        """A keyed hash for finding a row by a secret (e.g. our api_token) without storing it in clear."""
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()


def _derive(secret: str) -> bytes:
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), b"evosync-secrets-at-rest", 100_000)
    return base64.urlsafe_b64encode(digest)


def mask(secret: str | None, keep: int = 4) -> str:
    """What the UI shows of a token: its last few characters only."""
    if not secret:
        return ""
    if len(secret) <= keep * 2:
        return "•" * 8
    return "•" * 8 + secret[-keep:]


def constant_time_equals(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


secret_box = SecretBox()
