"""The two alerts of an incident, in the merchant's language: "something is wrong" and "back to normal".

Each is one email, plus one SMS when the merchant gave a phone and asked for SMS alerts (profile page).
Both go through services/notifications (queued on the LOW queue, delivered by the configured provider).
"""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from ...i18n import LANGUAGES
from ...models import Incident, User
from .. import notifications
from . import wording

log = logging.getLogger(__name__)

DASHBOARD_PATH = "/sync"


def wants_sms(user: User) -> bool:
    """SMS only with both: a phone number and the opt-in."""
    return bool(user.sms_alerts and (user.phone or "").strip())


def _locale(user: User) -> str:
    if user.locale in LANGUAGES:
        return user.locale
    default = current_app.config.get("BABEL_DEFAULT_LOCALE")
    return default if default in LANGUAGES else "ru"


def _link() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + DASHBOARD_PATH


def _send_sms(user: User, text: str) -> bool:
    """The SMS after the email went: a failure here is logged, and never sends the email twice."""
    try:
        notifications.send_sms(user.phone, text)
    except Exception as exc:  # the SMS provider or the queue; the email is already on its way
        log.warning("incident sms not queued", extra={"user_id": user.id, "error": type(exc).__name__})
        return False
    return True


def send_opened(incident: Incident, user: User, shop: str = "") -> bool:
    """Queue the opening alert; returns whether an SMS went with the email."""
    link = _link()
    with force_locale(_locale(user)):
        subject = _("EvoSync: your VK market needs your attention")
        notifications.send_templated_email(
            user.email,
            "incident_opened",
            subject,
            lines=wording.lines(incident.reasons, incident.details),
            shop=shop,
            link=link,
        )
        sms = wants_sms(user) and _send_sms(user, wording.sms_opened(link))
    log.info("incident alert queued", extra={"user_id": user.id, "incident_id": incident.id, "sms": sms})
    return sms


def send_cleared(incident: Incident, user: User) -> bool:
    """Queue the "back to normal" alert; returns whether an SMS went with the email."""
    with force_locale(_locale(user)):
        subject = _("EvoSync: back to normal")
        notifications.send_templated_email(
            user.email,
            "incident_cleared",
            subject,
            opened=incident.opened_at.strftime("%Y-%m-%d %H:%M"),
            link=_link(),
        )
        sms = wants_sms(user) and _send_sms(user, wording.sms_cleared())
    log.info("incident recovery alert queued", extra={"user_id": user.id, "incident_id": incident.id, "sms": sms})
    return sms
