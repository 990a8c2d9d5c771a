"""Notification jobs (LOW queue): deliver one email or one SMS, so a slow SMTP server never blocks a page."""

from __future__ import annotations

from ..services import notifications


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    notifications.deliver_email(notifications.OutgoingEmail(to=to, subject=subject, text=text, html=html))


def send_sms(phone: str, text: str) -> None:
    notifications.deliver_sms(phone, text)
