"""The local mirror of what each merchant's VK community market holds."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, user_fk, utcnow


class VkCachedAlbum(db.Model):
    __tablename__ = "vk_cached_albums"
    __table_args__ = (sa.UniqueConstraint("user_id", "vk_album_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    group_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    vk_album_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    item_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    photo_url: Mapped[str | None] = mapped_column(sa.String(1024))
    is_main: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    is_hidden: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)


class VkCachedProduct(db.Model):
    __tablename__ = "vk_cached_products"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "vk_item_id"),
        sa.Index("ix_vk_cached_products_user_sku", "user_id", "sku"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    group_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    vk_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    price: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal("0"), nullable=False)  # rubles
    availability: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    sku: Mapped[str | None] = mapped_column(sa.String(64))
    category_id: Mapped[int | None] = mapped_column(sa.Integer)
    album_ids: Mapped[list | None] = mapped_column(sa.JSON)
    photo_url: Mapped[str | None] = mapped_column(sa.String(1024))
    main_photo_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # identifies our item when VK drops the sku
    # What EvoSync knows of an availability-1 item that VK still returns (a refresh never writes it):
    # "deleted" - we removed it, or VK answered "not found" for it: restorable; "dead" - too late to restore.
    removal: Mapped[str | None] = mapped_column(sa.String(16))
    reject_reason: Mapped[str | None] = mapped_column(sa.Text)  # VK's moderators' verdict (reject_info), if any
    # The VK card (market.groupItems' item_group_id, "variants_grouping_id" in market.get) the item is part of.
    grouping_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)


class VkCachedProperty(db.Model):
    """A product property of the community (market.getProperties), with its variants: the ids items refer to."""

    __tablename__ = "vk_cached_properties"
    __table_args__ = (sa.UniqueConstraint("user_id", "vk_property_id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    group_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    vk_property_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    variants: Mapped[dict | None] = mapped_column(sa.JSON)  # variant title -> VK variant id
    refreshed_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
