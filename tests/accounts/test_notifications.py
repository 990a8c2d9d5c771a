"""Notifications: providers chosen by config, two-part emails, and delivery from the LOW queue."""

from __future__ import annotations

import email
import socketserver
import threading

import pytest
from rq import SimpleWorker

from evosync.jobs import mail as mail_jobs
from evosync.queues import LOW, get_queue
from evosync.services import notifications
from tests.factories import PASSWORD, sent_emails


def test_console_provider_prints_the_whole_message(app, capsys):
    """EMAIL_PROVIDER=console (no MAIL_BACKEND override): subject, addresses, text with its link intact, and the
    HTML part are printed; nothing is sent anywhere."""
    app.config.update(EMAIL_PROVIDER="console", MAIL_BACKEND="")
    link = "http://localhost:8000/invite?token=" + "x" * 120
    notifications.send_email("olga@example.com", "Привет", f"Open {link}", "<p>HTML part</p>")
    out = capsys.readouterr().out
    assert "To: olga@example.com" in out and "Subject: Привет" in out
    assert link in out and "<p>HTML part</p>" in out
    assert sent_emails(app) == []


def test_email_goes_through_the_low_queue(app):
    """Without RUN_JOBS_INLINE the email is a job on the LOW queue; a worker delivers it with both parts."""
    app.config["RUN_JOBS_INLINE"] = False
    queue = get_queue(LOW)
    notifications.send_email("queued@example.com", "Subject", "Text part", "<b>HTML part</b>")
    assert sent_emails(app) == []
    [job] = queue.get_jobs()
    assert job.func is mail_jobs.send_email

    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    [message] = sent_emails(app)
    assert message.to == ["queued@example.com"] and message.body == "Text part"
    assert message.alternatives[0][1] == "text/html" and "<b>HTML part</b>" in message.alternatives[0][0]
    assert message.from_email == app.config["MAIL_DEFAULT_SENDER"]


def test_flask_security_emails_are_queued_too(app, client):
    """Registration's confirmation email (sent by Flask-Security) is a LOW-queue job, not sent in the request."""
    app.config["RUN_JOBS_INLINE"] = False
    client.post("/register", data={"email": "q@example.com", "password": PASSWORD, "password_confirm": PASSWORD})
    assert sent_emails(app) == []
    assert get_queue(LOW).count == 1


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message and keep it."""

    def handle(self):
        self.wfile.write(b"220 sink\r\n")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 sink\r\n")
            elif command == b"DATA":
                self.wfile.write(b"354 go\r\n")
                data = b""
                while (chunk := self.rfile.readline()) != b".\r\n":
                    data += chunk
                self.server.messages.append(data)
                self.wfile.write(b"250 ok\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_sink():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpSink)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_smtp_provider_uses_the_smtp_settings(app, smtp_sink):
    """EMAIL_PROVIDER=smtp sends to SMTP_HOST:SMTP_PORT a multipart message with text and HTML."""
    app.config.update(
        EMAIL_PROVIDER="smtp", MAIL_BACKEND="", SMTP_HOST="127.0.0.1", SMTP_PORT=smtp_sink.server_address[1],
        SMTP_USE_TLS=False, SMTP_USERNAME="", SMTP_PASSWORD="", SMTP_TIMEOUT=5,
    )  # fmt: skip
    notifications.send_email("smtp@example.com", "Over SMTP", "Text part", "<i>HTML part</i>")
    [raw] = smtp_sink.messages
    message = email.message_from_bytes(raw)
    assert message["To"] == "smtp@example.com" and message["Subject"] == "Over SMTP"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()}
    assert message.get_content_type() == "multipart/alternative"
    assert parts["text/plain"].strip() == "Text part" and "<i>HTML part</i>" in parts["text/html"]


def test_console_sms(app, capsys):
    """SMS_PROVIDER=console prints the number and the text."""
    notifications.send_sms("+79120000000", "Sync failed: check VK")
    out = capsys.readouterr().out
    assert "SMS to: +79120000000" in out and "Sync failed: check VK" in out
