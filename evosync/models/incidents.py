"""Incidents: a merchant whose sync stalled, failed or is about to stop, and the alerts sent about it."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, user_fk, utcnow


class IncidentClose(enum.StrEnum):
    RESOLVED = "resolved"  # checked again and found fine: the merchant hears "back to normal"
    WITHDRAWN = "withdrawn"  # no longer checked (account suspended, a connection removed): closed quietly


class Incident(db.Model):
    """One stretch of trouble for one merchant, from the check that found it to the check that found it gone.

    At most one incident per merchant is open: ``open_user_id`` holds the user id while open and NULL once
    closed, under a unique index, so two checks running at once cannot open two (nor send two alerts).
    """

    __tablename__ = "incidents"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    open_user_id: Mapped[int | None] = mapped_column(sa.Integer, unique=True)
    # The rules that hold now (services/incidents/rules.py: stale, failing, vk_token, evotor); kept when closed.
    reasons: Mapped[list] = mapped_column(sa.JSON, nullable=False)
    details: Mapped[dict | None] = mapped_column(sa.JSON)  # reason -> facts for the wording (times, counts)
    opened_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow, nullable=False)
    closed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    close_reason: Mapped[str | None] = mapped_column(sa.String(16))
    alerted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)  # the opening alert was queued
    alert_sms: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    recovery_alerted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)  # "back to normal" was queued
    recovery_sms: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


__all__ = ["Incident", "IncidentClose"]
