"""What can go wrong with a merchant's Evotor or VK connection, and how we say it to them (with what to do next)."""

from __future__ import annotations

from flask_babel import gettext as _

from ..clients.errors import (
    EvotorAuthError,
    EvotorPaymentRequired,
    EvotorRateLimited,
    EvotorTransientError,
    VkAccessDenied,
    VkApiError,
    VkAuthError,
    VkCaptchaNeeded,
    VkFloodControl,
    VkInvalidParam,
    VkMarketDisabled,
    VkTooManyRequests,
    VkTransportError,
)


class NotConnectedError(Exception):
    """The merchant has no usable token for this service; nothing can be called."""


def evotor_error_message(exc: Exception) -> str:
    """What went wrong with Evotor, in words a merchant understands, with what to do next."""
    if isinstance(exc, NotConnectedError):
        return _("Evotor is not connected yet. Paste your Evotor token and save it.")
    if isinstance(exc, EvotorAuthError):
        return _(
            "Evotor did not accept the token: it is wrong or was revoked, or the EvoSync app is not installed "
            "in your Evotor account. Install the app in the Evotor marketplace or paste a fresh token."
        )
    if isinstance(exc, EvotorPaymentRequired):
        return _("The EvoSync app is not paid for in your Evotor account. Renew the subscription in Evotor.")
    if isinstance(exc, EvotorRateLimited):
        return _("Evotor asked us to slow down. We will try again later; there is nothing you need to do.")
    if isinstance(exc, EvotorTransientError):
        return _("Evotor is not answering right now. Please try again in a few minutes.")
    return _("Evotor answered with an error we did not expect. Please try again later.")


def vk_error_message(exc: Exception, group_name: str = "") -> str:
    """What went wrong with VK, in words a merchant understands, with what to do next."""
    community = f"«{group_name}»" if group_name else _("the community")
    if isinstance(exc, NotConnectedError):
        return _("VK is not connected yet. Paste a VK token and your community's address and save them.")
    if isinstance(exc, VkAuthError):
        return _(
            "VK did not accept the token: it is wrong, has expired or was revoked. Get a new token and save it again."
        )
    if isinstance(exc, VkMarketDisabled):
        return _(
            'Products are switched off in %(community)s. Turn on the "Products" section in the community '
            "settings (Manage → Sections), then test again.",
            community=community,
        )
    if isinstance(exc, VkAccessDenied):
        return _(
            "This VK account has no access to %(community)s or to its products. Use the token of a community "
            'administrator or editor that was given the "market" right.',
            community=community,
        )
    if is_not_found(exc):
        return _("VK could not find this community. Check the community's address or id.")
    if isinstance(exc, VkTooManyRequests | VkFloodControl):
        return _("VK asked us to slow down. Please try again in a few minutes.")
    if isinstance(exc, VkCaptchaNeeded):
        return _("VK wants a captcha for this account. Open vk.com in your browser, then try again.")
    if isinstance(exc, VkTransportError):
        return _("VK is not answering right now. Please try again in a few minutes.")
    return _("VK answered with an error we did not expect. Please try again later.")


def is_not_found(exc: Exception) -> bool:
    # VkClient.get_group raises a plain VkApiError(100) (not VkInvalidParam) for an unknown community.
    return isinstance(exc, VkApiError) and exc.code == 100


# Failures that mean the merchant must act (a new token, rights, a switch): the connection is broken.
# Anything else (timeouts, rate limits) says nothing about the connection itself.
BREAKING_ERRORS: tuple[type[Exception], ...] = (
    EvotorAuthError,
    EvotorPaymentRequired,
    VkAuthError,
    VkAccessDenied,
    VkMarketDisabled,
    VkInvalidParam,
)
