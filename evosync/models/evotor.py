"""The local mirror of each merchant's Evotor catalog (stores, product groups, products), and the Evotor events
received (``webhook_events``)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, user_fk, utcnow


class CachedStore(db.Model):
    __tablename__ = "cached_stores"
    __table_args__ = (sa.UniqueConstraint("user_id", "evotor_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    address: Mapped[str] = mapped_column(sa.String(512), default="", nullable=False)
    payment_required: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    evotor_updated_at: Mapped[str | None] = mapped_column(sa.String(40))
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    # How many products the mirror holds for this store: the products page's total without a COUNT over
    # the store (20 ms of MariaDB on 50,000 rows). Raised per chunk and recounted at the end of every refresh
    # (which heals any drift), and moved by one by catalog events: see services/evotor_catalog.recount_products.
    product_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0", nullable=False)
    # A new random token whenever the store's groups change (refresh, group events): the key of the products
    # page's cached group names (services/evotor_catalog.group_names). Random, not a counter: a store removed and
    # mirrored again (or a reused row id) must not meet the cache of its predecessor.
    groups_version: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: uuid.uuid4().hex, server_default="", nullable=False
    )
    # Likewise renewed whenever the store's products or their VK state change (refresh, events, sync links):
    # the products page is cached per process under it (web/page_cache.py, services/evotor_catalog.
    # bump_content_version).
    content_version: Mapped[str] = mapped_column(
        sa.String(32), default=lambda: uuid.uuid4().hex, server_default="", nullable=False
    )


class CachedGroup(db.Model):
    __tablename__ = "cached_groups"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "store_evotor_id", "evotor_id"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    store_evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    attributes: Mapped[list | None] = mapped_column(sa.JSON)  # set on modification groups (variants)
    evotor_updated_at: Mapped[str | None] = mapped_column(sa.String(40))
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)

    @property
    def is_modification_group(self) -> bool:
        return bool(self.attributes)


class CachedProduct(db.Model):
    __tablename__ = "cached_products"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "store_evotor_id", "evotor_id"),
        sa.Index("ix_cached_products_store_parent", "user_id", "store_evotor_id", "parent_id"),
        sa.Index("ix_cached_products_store_name", "user_id", "store_evotor_id", "name"),
        # Catalog search looks products up by code and barcode within a store.
        sa.Index("ix_cached_products_store_code", "user_id", "store_evotor_id", "code"),
        sa.Index("ix_cached_products_store_barcodes", "user_id", "store_evotor_id", "barcodes_text"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    store_evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    evotor_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    parent_id: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    code: Mapped[str] = mapped_column(sa.String(64), default="", nullable=False)
    article_number: Mapped[str] = mapped_column(sa.String(128), default="", nullable=False)
    barcodes: Mapped[list | None] = mapped_column(sa.JSON)
    barcodes_text: Mapped[str] = mapped_column(sa.String(512), default="", nullable=False)  # for search
    price: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal("0"), nullable=False)
    cost_price: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    quantity: Mapped[Decimal | None] = mapped_column(sa.Numeric(16, 3))
    measure_name: Mapped[str] = mapped_column(sa.String(32), default="", nullable=False)
    tax: Mapped[str] = mapped_column(sa.String(32), default="", nullable=False)
    allow_to_sell: Mapped[bool] = mapped_column(sa.Boolean, default=True, nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    type: Mapped[str] = mapped_column(sa.String(32), default="NORMAL", nullable=False)
    attributes_choices: Mapped[dict | None] = mapped_column(sa.JSON)
    image_id: Mapped[str | None] = mapped_column(sa.String(64))
    image_url: Mapped[str | None] = mapped_column(sa.String(1024))
    image_updated_at: Mapped[str | None] = mapped_column(sa.String(40))
    # The product's evotor_updated_at when its images were last looked up (None: never looked up).
    image_checked_for: Mapped[str | None] = mapped_column(sa.String(40))
    evotor_updated_at: Mapped[str | None] = mapped_column(sa.String(40))
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)


class WebhookEvent(db.Model):
    """Evotor events received: their ids make repeated deliveries acknowledged, not reapplied; catalog events wait
    here as ``queued`` (with their body) until the drainer applies them (services/evotor_events/queue.py)."""

    __tablename__ = "webhook_events"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(128), unique=True, nullable=False)
    event_type: Mapped[str] = mapped_column(sa.String(64), default="", nullable=False)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False, index=True)
    # queued, applied, ignored, unknown_user or failed (partner events are handled at once: applied)
    status: Mapped[str] = mapped_column(
        sa.String(16), default="applied", server_default="applied", nullable=False, index=True
    )
    body: Mapped[str | None] = mapped_column(sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql"))  # while queued/failed
    processed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    error: Mapped[str | None] = mapped_column(sa.String(500))
