"""Email and SMS to merchants: rendered here, delivered from a LOW-queue job by a provider chosen by config."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import TextIO

from flask import current_app, render_template
from flask_mailman import EmailMultiAlternatives
from flask_mailman.backends.base import BaseEmailBackend

from ..extensions import mail
from ..queues import LOW, enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str
    html: str | None = None
    sender: str | None = None


# --- Public interface -------------------------------------------------------------------------------------------


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Queue an email (text and, when given, HTML parts) on the LOW queue; inline when RUN_JOBS_INLINE."""
    enqueue(
        "evosync.jobs.mail.send_email",
        to,
        str(subject),
        text,
        html,
        queue=LOW,
        title=f"email to {_mask_address(to)}",
        timeout=120,
        retries=3,
    )


def send_templated_email(to: str, template: str, subject: str, **context) -> None:
    """Render templates/email/<template>.txt and .html with the context, then queue the email."""
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", subject=subject, **context)
    send_email(to, subject, text, html)


def send_sms(phone: str, text: str) -> None:
    """Queue a short text message on the LOW queue (incident alerts, services/incidents/alerts.py)."""
    enqueue("evosync.jobs.mail.send_sms", phone, text, queue=LOW, title="sms", timeout=60, retries=3)


def deliver_email(message: OutgoingEmail) -> None:
    """Hand the email to the configured provider now (called by the job)."""
    email_provider().send(message)


def deliver_sms(phone: str, text: str) -> None:
    sms_provider().send(phone, text)


# --- Email providers ---------------------------------------------------------------------------------------------


class ConsoleMailBackend(BaseEmailBackend):
    """A Flask-Mailman backend that prints each message readably (subject, addresses, both parts, links intact).

    Flask-Mailman's own console backend prints the encoded MIME source, where long links are broken by
    quoted-printable line wraps; a developer needs to click them.
    """

    def __init__(self, *args, stream: TextIO | None = None, **kwargs) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def send_messages(self, email_messages) -> int:
        with self._lock:
            for message in email_messages:
                self.stream.write(render_for_console(message))
                self.stream.flush()
        return len(email_messages)


def render_for_console(message: EmailMultiAlternatives) -> str:
    html_parts = [content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"]
    lines = [
        "=" * 79,
        f"From: {message.from_email}",
        f"To: {', '.join(message.to)}",
        f"Subject: {message.subject}",
        "-" * 79,
        message.body or "",
    ]
    for html in html_parts:
        lines += ["-" * 79, "[text/html]", html]
    lines += ["=" * 79, ""]
    return "\n".join(lines)


class MailmanEmailProvider:
    """Builds a two-part message and hands it to a Flask-Mailman backend; subclasses choose the backend."""

    name = "mailman"

    def __init__(self, config: dict) -> None:
        self.config = config

    def connection(self):
        raise NotImplementedError

    def send(self, message: OutgoingEmail) -> None:
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=message.sender or self.config["MAIL_DEFAULT_SENDER"],
            to=[message.to],
            connection=self.connection(),
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        email.send()
        log.info("email sent", extra={"provider": self.name, "to": _mask_address(message.to)})


class ConsoleEmailProvider(MailmanEmailProvider):
    """Development: the whole message, links included, goes to stdout next to the log; nothing leaves the host."""

    name = "console"

    def connection(self):
        # MAIL_BACKEND, when set, wins: the tests use Flask-Mailman's locmem outbox.
        return mail.get_connection(backend=self.config.get("MAIL_BACKEND") or ConsoleMailBackend)


class SmtpEmailProvider(MailmanEmailProvider):
    """Production: an SMTP server from the SMTP_* settings."""

    name = "smtp"

    def connection(self):
        return mail.get_connection(
            backend=self.config.get("MAIL_BACKEND") or "smtp",
            host=self.config["SMTP_HOST"],
            port=self.config["SMTP_PORT"],
            username=self.config["SMTP_USERNAME"] or None,
            password=self.config["SMTP_PASSWORD"] or None,
            use_tls=self.config["SMTP_USE_TLS"],
            timeout=self.config["SMTP_TIMEOUT"],
        )


EMAIL_PROVIDERS: dict[str, type[MailmanEmailProvider]] = {
    "console": ConsoleEmailProvider,
    "smtp": SmtpEmailProvider,
}


def email_provider() -> MailmanEmailProvider:
    return EMAIL_PROVIDERS[current_app.config["EMAIL_PROVIDER"]](current_app.config)


# --- SMS providers -----------------------------------------------------------------------------------------------


class ConsoleSmsProvider:
    """Development: the text is printed to stdout; no SMS gateway is contacted."""

    name = "console"

    def __init__(self, config: dict, stream: TextIO | None = None) -> None:
        self.config = config
        self.stream = stream or sys.stdout

    def send(self, phone: str, text: str) -> None:
        self.stream.write(f"{'=' * 79}\nSMS to: {phone}\n{text}\n{'=' * 79}\n")
        self.stream.flush()
        log.info("sms sent", extra={"provider": self.name})


class LocmemSmsProvider(ConsoleSmsProvider):
    """Tests: each text is kept as (phone, text) in the app's outbox (``sms_outbox()``), like Flask-Mailman's locmem."""

    name = "locmem"

    def send(self, phone: str, text: str) -> None:
        sms_outbox().append((phone, text))


def sms_outbox() -> list[tuple[str, str]]:
    return current_app.extensions.setdefault("evosync_sms_outbox", [])


SMS_PROVIDERS: dict[str, type[ConsoleSmsProvider]] = {"console": ConsoleSmsProvider, "locmem": LocmemSmsProvider}


def sms_provider() -> ConsoleSmsProvider:
    return SMS_PROVIDERS[current_app.config["SMS_PROVIDER"]](current_app.config)


def _mask_address(address: str) -> str:
    """Logs name the domain, not the person."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
