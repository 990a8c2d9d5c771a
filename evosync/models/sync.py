"""Sync settings and filters, what we pushed to VK (links), and the history of runs."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, TimestampMixin, user_fk, utcnow


class SyncConfig(db.Model, TimestampMixin):
    """Per-merchant sync settings; defaults are what a merchant who never opens the page gets."""

    __tablename__ = "sync_configs"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False)
    auto_sync: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    markup_percent: Mapped[Decimal] = mapped_column(sa.Numeric(7, 2), default=Decimal("0"), nullable=False)
    price_rounding: Mapped[str] = mapped_column(sa.String(16), default="none", nullable=False)
    out_of_stock: Mapped[str] = mapped_column(sa.String(16), default="unavailable", nullable=False)
    removal: Mapped[str] = mapped_column(sa.String(16), default="delete", nullable=False)
    category_id: Mapped[int | None] = mapped_column(sa.Integer)
    description_template: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    albums_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    publish_services: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    # Goods Russian law forbids selling at a distance stay off VK unless the merchant switches their family on.
    publish_alcohol: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false(), nullable=False)
    publish_tobacco: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false(), nullable=False)
    # Fields VK decides after the first publication (comma-separated names of mapping.VK_OWNABLE_FIELDS).
    vk_owned_fields: Mapped[str] = mapped_column(sa.String(128), default="", server_default="", nullable=False)
    # Group flat products named "Base (Flavour)" into one VK card each (issue 22; off by default).
    group_by_name: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false(), nullable=False)


class SyncFilter(db.Model):
    """The merchant's say on what is published: a store or a group, enabled or not."""

    __tablename__ = "sync_filters"
    __table_args__ = (sa.UniqueConstraint("user_id", "entity_type", "entity_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    entity_type: Mapped[str] = mapped_column(sa.String(8), nullable=False)  # store | group
    entity_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    parent_entity_id: Mapped[str | None] = mapped_column(sa.String(64))  # the store, for groups
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow, nullable=False)


class LinkStatus(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    UNAVAILABLE = "unavailable"
    ERROR = "error"
    REMOVED = "removed"
    SKIPPED = "skipped"


class SyncLink(db.Model, TimestampMixin):
    """One Evotor product and the VK item EvoSync made for it: the memory that makes reruns resume."""

    __tablename__ = "sync_links"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "store_evotor_id", "evotor_product_id"),
        sa.UniqueConstraint("user_id", "sku"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    store_evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    evotor_product_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    group_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the VK community it lives in
    vk_item_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    vk_album_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    vk_photo_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))
    photo_hash: Mapped[str | None] = mapped_column(sa.String(64))
    pushed: Mapped[dict | None] = mapped_column(sa.JSON)  # the fields last written, for field-level edits
    status: Mapped[str] = mapped_column(sa.String(16), default=LinkStatus.PENDING, nullable=False, index=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)


class SyncAlbum(db.Model, TimestampMixin):
    """A VK album EvoSync made for an Evotor group."""

    __tablename__ = "sync_albums"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "store_evotor_id", "evotor_group_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    store_evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    evotor_group_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    group_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    vk_album_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    title: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, some products failed
    FAILED = "failed"
    WAITING_CONFIRMATION = "waiting_confirmation"
    CANCELLED = "cancelled"


class SyncRun(db.Model):
    __tablename__ = "sync_runs"
    __table_args__ = (sa.Index("ix_sync_runs_user_created", "user_id", "created_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    trigger: Mapped[str] = mapped_column(sa.String(16), default="manual", nullable=False)
    status: Mapped[str] = mapped_column(sa.String(24), default=RunStatus.QUEUED, nullable=False, index=True)
    dry_run: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    progress_done: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    progress_total: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    created_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    updated_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    removed_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    unchanged_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    failed_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    albums_changed: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    photos_uploaded: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    api_requests: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    api_calls: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    error: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict | None] = mapped_column(sa.JSON)  # failures and pending removals

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
