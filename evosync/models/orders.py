"""Orders placed in the merchant's VK community, their lines (which hold Evotor stock), VK's callback events
and the merchant's order settings."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, EncryptedText, user_fk, utcnow


class VkOrderSettings(db.Model):
    """Whether EvoSync reads the merchant's VK orders, which VK statuses hold stock, and the Callback API keys."""

    __tablename__ = "vk_order_settings"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    # VK status numbers (comma-separated) whose orders hold stock; services/vk_orders.py has the default.
    open_statuses: Mapped[str] = mapped_column(sa.String(64), default="", nullable=False)
    callback_secret: Mapped[str | None] = mapped_column(EncryptedText)  # we make it; the merchant gives it to VK
    confirmation_code: Mapped[str] = mapped_column(sa.String(64), default="", nullable=False)  # VK gives it
    last_poll_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    last_poll_ok_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    last_poll_error: Mapped[str | None] = mapped_column(sa.Text)
    last_callback_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)


class VkOrder(db.Model):
    """One VK order, as VK showed it last (whichever path brought it: the poll or a callback)."""

    __tablename__ = "vk_orders"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "group_id", "vk_order_id", name="uq_vk_orders_user_group_order"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = user_fk()
    group_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    vk_order_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    vk_user_id: Mapped[int | None] = mapped_column(sa.BigInteger)  # the shopper (market.editOrder needs it)
    display_id: Mapped[str] = mapped_column(sa.String(64), default="", nullable=False)
    status: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    ordered_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    items_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    total_kopecks: Mapped[int | None] = mapped_column(sa.BigInteger)
    comment: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    address: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    merchant_comment: Mapped[str] = mapped_column(sa.Text, default="", nullable=False)
    first_seen_via: Mapped[str] = mapped_column(sa.String(16), default="poll", nullable=False)  # poll | callback
    items_complete: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)  # read from VK in full
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow, nullable=False)
    alerted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)

    items: Mapped[list[VkOrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="VkOrderItem.id"
    )


class VkOrderItem(db.Model):
    """One line of an order: a VK item and its quantity, mapped back to the Evotor product through our sync links.

    While its order is open the line holds ``quantity - till_settled`` units of the product's Evotor stock (see
    services/sync/holds.py for the release rule); ``evotor_seen`` is the Evotor quantity last looked at for it.
    """

    __tablename__ = "vk_order_items"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "vk_item_id", name="uq_vk_order_items_order_item"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("vk_orders.id", ondelete="CASCADE"), nullable=False, index=True)
    user_id: Mapped[int] = user_fk()
    vk_item_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    title: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    quantity: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    price_kopecks: Mapped[int | None] = mapped_column(sa.BigInteger)
    store_evotor_id: Mapped[str | None] = mapped_column(sa.String(64))
    evotor_product_id: Mapped[str | None] = mapped_column(sa.String(64))
    till_settled: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    evotor_seen: Mapped[str | None] = mapped_column(sa.String(32))  # a Decimal as text: exact on every database

    order: Mapped[VkOrder] = relationship(back_populates="items")


class VkOrderEvent(db.Model):
    """One delivery of VK's Callback API (market_order_new / market_order_edit), queued for the worker.

    ``event_id`` is VK's own, unique: a repeated delivery finds it and changes nothing.
    """

    __tablename__ = "vk_order_events"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(128), unique=True, nullable=False)
    user_id: Mapped[int] = user_fk()
    group_id: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    event_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    vk_order_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(16), default="queued", nullable=False, index=True)
    body: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    processed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)


__all__ = ["VkOrder", "VkOrderEvent", "VkOrderItem", "VkOrderSettings"]
