"""Column types and helpers shared by every model module."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ..crypto import secret_box


def utcnow() -> dt.datetime:
    """Naive UTC: stored the same way on SQLite and MariaDB."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class EncryptedText(TypeDecorator):
    """A secret stored Fernet-encrypted; Python code sees the clear value."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return value
        return secret_box.encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None or value == "":
            return value
        return secret_box.decrypt(value)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow, nullable=False)


def user_fk() -> Mapped[int]:
    """Every merchant-owned row points at its user and goes when the user goes."""
    return mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)


MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci", "mysql_engine": "InnoDB"}
