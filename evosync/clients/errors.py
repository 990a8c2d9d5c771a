"""Exceptions raised by the HTTP clients: Evotor, VK API, VK ID and product-photo preparation."""

from __future__ import annotations

from typing import Any, ClassVar

# --------------------------------------------------------------------------------------------------- Evotor


class EvotorError(Exception):
    """Any failure talking to the Evotor cloud API; ``retryable`` says whether trying later may help."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class EvotorAuthError(EvotorError):
    """401/403: the token is bad, revoked, or the app is not installed / lacks rights."""


class EvotorPaymentRequired(EvotorError):
    """402: the app is not paid for on this store's terminals; skip the store, do not fail the run."""

    def __init__(self, message: str, *, status: int | None = 402, store_id: str | None = None):
        super().__init__(message, status=status)
        self.store_id = store_id


class EvotorRateLimited(EvotorError):
    """429: Evotor asks us to stop; ``retry_after`` is in seconds (Retry-After, or Evotor's 30 minutes)."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = 429, retry_after: float = 1800.0):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class EvotorTransientError(EvotorError):
    """5xx, timeout or dropped connection that persisted through the client's own retries."""

    retryable = True


class EvotorBadRequest(EvotorError):
    """400 with Evotor's ``violations`` list ([{reason, subject}])."""

    def __init__(self, message: str, *, status: int | None = 400, violations: list[dict] | None = None):
        super().__init__(message, status=status)
        self.violations: list[dict] = list(violations or [])


class EvotorNotFound(EvotorError):
    """404: the store, product or image does not exist (any more)."""


class EvotorBadResponse(EvotorError):
    """The answer was not JSON, had the wrong shape, or was too large to accept."""


# --------------------------------------------------------------------------------------------------- VK API


class VkApiError(Exception):
    """An error answered by the VK API (``code`` is VK's error_code) or met on the way to it."""

    default_retryable: ClassVar[bool] = False

    def __init__(self, code: int, message: str, method: str | None = None, retryable: bool | None = None):
        super().__init__(f"VK error {code} in {method or '?'}: {message}")
        self.code = code
        self.message = message
        self.method = method
        self.retryable = self.default_retryable if retryable is None else retryable


class VkUnknownMethod(VkApiError):
    """3: the method is not known (used to fall back from the new photo-upload methods)."""


class VkUploadRefused(VkApiError):
    """The photo upload server refused the upload (its answer held ``error``); ``detail`` is VK's text."""

    def __init__(self, detail: str):
        super().__init__(1, f"photo upload refused: {detail}", "upload")
        self.detail = detail

    @property
    def bad_url(self) -> bool:
        """The upload address was refused as invalid or expired (e.g. used a second time)."""
        return "ERR_UPLOAD_BAD_URL" in self.detail.upper()


class VkAuthError(VkApiError):
    """5: the user token is invalid, expired or revoked: the connection needs the user's attention."""


class VkTooManyRequests(VkApiError):
    """6: more than 3 requests per second on this token; retry shortly."""

    default_retryable = True


class VkFloodControl(VkApiError):
    """9/29: flood control or a daily limit. 9 may be retried after a pause when the client allows it (flood_retries);
    29, or a flood that persists, stops this merchant's run."""


class VkInternalError(VkApiError):
    """10: VK's internal server error; retryable."""

    default_retryable = True


class VkCaptchaNeeded(VkApiError):
    """14: VK wants a captcha; a background sync cannot answer it."""


class VkAccessDenied(VkApiError):
    """15/200/203/205: no access to the community, album or market."""


class VkInvalidParam(VkApiError):
    """100: one of the parameters is invalid (also: a photo id already used by another item)."""


class VkAlbumNotFound(VkApiError):
    """1402: the album does not exist."""


class VkItemNotFound(VkApiError):
    """1403: the item does not exist (deleted in VK by hand: re-create it)."""


class VkAlreadyInAlbum(VkApiError):
    """1404: the item is already in that album (harmless for an idempotent sync)."""


class VkLimitReached(VkApiError):
    """1405/1406/1407: too many items, items in an album, or albums."""


class VkBadLinks(VkApiError):
    """1408: the description holds links VK refuses."""


class VkMarketDisabled(VkApiError):
    """1438: the community has "Products" switched off."""


class VkTransportError(VkApiError):
    """5xx, timeout, dropped connection or unreadable answer.

    ``maybe_applied`` is True when the request was a write that may have reached VK: the caller
    must look for the result (adopt by sku) instead of blindly sending it again.
    """

    default_retryable = True
    TRANSPORT_CODE: ClassVar[int] = 0

    def __init__(self, message: str, method: str | None = None, *, maybe_applied: bool = False, retryable: bool = True):
        super().__init__(self.TRANSPORT_CODE, message, method, retryable)
        self.maybe_applied = maybe_applied


_VK_ERROR_BY_CODE: dict[int, type[VkApiError]] = {
    3: VkUnknownMethod,
    5: VkAuthError,
    6: VkTooManyRequests,
    9: VkFloodControl,
    29: VkFloodControl,
    10: VkInternalError,
    14: VkCaptchaNeeded,
    15: VkAccessDenied,
    200: VkAccessDenied,
    203: VkAccessDenied,
    205: VkAccessDenied,
    100: VkInvalidParam,
    1402: VkAlbumNotFound,
    1403: VkItemNotFound,
    1404: VkAlreadyInAlbum,
    1405: VkLimitReached,
    1406: VkLimitReached,
    1407: VkLimitReached,
    1408: VkBadLinks,
    1438: VkMarketDisabled,
}


def vk_error_for(code: Any, msg: str | None, method: str | None) -> VkApiError:
    """Build the typed exception for a VK ``error_code`` (plain VkApiError for codes we do not single out)."""
    try:
        code = int(code)
    except (TypeError, ValueError):
        code = 1  # VK's "unknown error"
    cls = _VK_ERROR_BY_CODE.get(code, VkApiError)
    return cls(code, msg or "", method)


# --------------------------------------------------------------------------------------------------- VK ID


class VkIdError(Exception):
    """An OAuth error from VK ID (``error`` as VK ID names it); ``revoked``: the user must log in again."""

    def __init__(self, error: str, description: str = "", *, retryable: bool = False):
        super().__init__(f"VK ID error {error}: {description}" if description else f"VK ID error {error}")
        self.error = error
        self.description = description
        self.retryable = retryable

    @property
    def revoked(self) -> bool:
        return self.error == "invalid_grant"


# --------------------------------------------------------------------------------------------------- photos


class ImageError(ValueError):
    """The bytes are not an image we can turn into a VK product photo."""
