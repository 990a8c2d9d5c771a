"""Structured JSON logs on stdout, with request ids and secrets redacted."""

from __future__ import annotations

import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

_SECRET_PATTERNS = [
    (
        re.compile(r"(access_token|refresh_token|token|password|code_verifier|client_secret)=([^&\s\"']+)", re.I),
        r"\1=[REDACTED]",
    ),
    (
        re.compile(
            r"(\"(?:access_token|refresh_token|token|password|api_token|code_verifier)\"\s*:\s*\")[^\"]*\"", re.I
        ),
        r'\1[REDACTED]"',
    ),
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1[REDACTED]"),
    (re.compile(r"(X-Authorization['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", re.I), r"\1[REDACTED]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Last line of defence: whatever a message says, token-shaped values never reach the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            message = record.getMessage()
            record.msg = redact(message)
            record.args = ()
        for key, value in list(record.__dict__.items()):
            if key in {"token", "access_token", "refresh_token", "password", "api_token"}:
                record.__dict__[key] = "[REDACTED]"
            elif isinstance(value, str) and key not in {"msg", "message", "levelname", "name", "pathname"}:
                record.__dict__[key] = redact(value)
        return True


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Idempotent: one JSON handler on the root logger."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_evosync", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler._evosync = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("urllib3", "werkzeug", "rq.worker"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
