"""A merchant's Evotor and VK connections; every token is encrypted at rest."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, EncryptedText, TimestampMixin


class ConnectionState(enum.StrEnum):
    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    BROKEN = "broken"


class EvotorConnection(db.Model, TimestampMixin):
    __tablename__ = "evotor_connections"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False)
    evotor_user_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    access_token: Mapped[str | None] = mapped_column(EncryptedText)  # Evotor cloud token
    api_token: Mapped[str | None] = mapped_column(EncryptedText)  # ours, returned to Evotor's webhooks
    api_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    source: Mapped[str] = mapped_column(sa.String(16), default="manual", nullable=False)  # webhook | manual
    state: Mapped[str] = mapped_column(sa.String(16), default=ConnectionState.NOT_CONNECTED, nullable=False)
    app_installed: Mapped[bool | None] = mapped_column(sa.Boolean)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    paused_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)  # after a 429
    webhook_signing_secret: Mapped[str | None] = mapped_column(EncryptedText)


class VkConnection(db.Model, TimestampMixin):
    __tablename__ = "vk_connections"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False)
    method: Mapped[str] = mapped_column(sa.String(16), default="token", nullable=False)  # token | vkid
    access_token: Mapped[str | None] = mapped_column(EncryptedText)
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    device_id: Mapped[str | None] = mapped_column(sa.String(255))
    vk_user_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    group_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # positive community id
    group_name: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    group_screen_name: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    market_enabled: Mapped[bool | None] = mapped_column(sa.Boolean)
    state: Mapped[str] = mapped_column(sa.String(16), default=ConnectionState.NOT_CONNECTED, nullable=False)
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    paused_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)  # after VK flood control
    # The community's "extended" products mode as VK last showed it: "on", "off" (1409/1410), "off-write" (a write
    # refused while reads pass, services/sync/variants_mode.py), None (not known yet).
    variants_mode: Mapped[str | None] = mapped_column(sa.String(16))
    variants_mode_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)


__all__ = ["ConnectionState", "EvotorConnection", "VkConnection"]
