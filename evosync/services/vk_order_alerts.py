"""Telling the merchant about a new VK order: an email, and an SMS when they opted in; once per order."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from ..extensions import db
from ..models import User, VkOrder, utcnow
from . import notifications
from .incidents.alerts import _locale, wants_sms

log = logging.getLogger(__name__)


def order_link(order: VkOrder) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + f"/orders/{order.id}"


def alert_new_order(order: VkOrder) -> None:
    """Email, plus SMS with the opt-in; once per order (``alerted_at``). A failure is logged, never raised."""
    user = db.session.get(User, order.user_id)
    if user is None or order.alerted_at is not None:
        return
    link = order_link(order)
    total = format_rubles(order.total_kopecks)
    try:
        with force_locale(_locale(user)):
            subject = _("New VK order %(number)s", number=order.display_id)
            notifications.send_templated_email(
                user.email, "order_new", subject, order=order, total=total, link=link, lines=list(order.items)
            )
            if wants_sms(user):
                notifications.send_sms(
                    user.phone, _("EvoSync: new VK order %(number)s: %(link)s", number=order.display_id, link=link)
                )
        order.alerted_at = utcnow()
        db.session.commit()
    except Exception:  # noqa: BLE001 - the order is stored and shown; the alert is the only loss
        db.session.rollback()
        log.warning("new order alert not queued", extra={"user_id": order.user_id, "order": order.id}, exc_info=True)


def format_rubles(kopecks: int | None) -> str:
    if kopecks is None:
        return ""
    rubles, rest = divmod(int(kopecks), 100)
    return f"{rubles:,}".replace(",", "\u00a0") + f",{rest:02d} ₽"
