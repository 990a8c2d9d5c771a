"""Read-only admin views of merchants' VK orders, their lines (holds) and VK's callback events."""

from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual

from ..models import VkOrder, VkOrderEvent, VkOrderItem
from .readonly import MerchantTableView


class VkOrdersView(MerchantTableView):
    model = VkOrder
    column_list = [
        "id",
        "user_id",
        "group_id",
        "display_id",
        "status",
        "ordered_at",
        "items_count",
        "total_kopecks",
        "first_seen_via",
        "alerted_at",
        "updated_at",
    ]
    column_searchable_list = ["display_id", "comment"]
    column_default_sort = ("id", True)

    def build_filters(self) -> list:
        return [FilterEqual(VkOrder.status, "Status"), FilterEqual(VkOrder.group_id, "Community")]


class VkOrderItemsView(MerchantTableView):
    model = VkOrderItem
    column_list = [
        "id",
        "user_id",
        "order_id",
        "vk_item_id",
        "title",
        "quantity",
        "till_settled",
        "evotor_seen",
        "store_evotor_id",
        "evotor_product_id",
    ]
    column_searchable_list = ["title", "evotor_product_id"]
    column_default_sort = ("id", True)


class VkOrderEventsView(MerchantTableView):
    model = VkOrderEvent
    column_list = [
        "id",
        "user_id",
        "event_id",
        "event_type",
        "group_id",
        "vk_order_id",
        "status",
        "error",
        "received_at",
        "processed_at",
    ]
    column_searchable_list = ["event_id"]
    column_default_sort = ("id", True)

    def build_filters(self) -> list:
        return [FilterEqual(VkOrderEvent.status, "Status")]
