"""The admin panel (Flask-Admin at /admin): init_admin(app) builds it, its views and rq-dashboard for one app."""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_babel import lazy_gettext as _l

from ..services import admin as admin_service
from .access import ADMIN_PREFIX, StaffOnlyMixin, install_path_guard
from .orders import VkOrderEventsView, VkOrderItemsView, VkOrdersView
from .readonly import (
    AuditLogView,
    EvotorConnectionsView,
    EvotorGroupsView,
    EvotorProductsView,
    EvotorStoresView,
    SyncLinksView,
    SyncRunsView,
    VkAlbumsView,
    VkConnectionsView,
    VkProductsView,
)
from .roles import RolesView
from .rq import RqDashboardLink, init_rq_dashboard
from .users import UsersView


class OverviewView(StaffOnlyMixin, AdminIndexView):
    """/admin/: counts and the latest audit rows; like every panel page, for admins only."""

    @expose("/")
    def index(self):
        return self.render("admin/evosync_index.html", summary=admin_service.panel_summary())


def init_admin(app: Flask) -> Admin:
    """A new Admin per app (Flask-Admin views hold per-app blueprints), with every page behind the staff check.

    The theme is Flask-Admin's own Bootstrap 4 with the default swatch: all its CSS, JS and fonts are served
    from /admin/static, and the default swatch (unlike most Bootswatch ones) imports no web font from the internet.
    """
    install_path_guard(app)
    admin = Admin(
        app,
        name=_l("EvoSync admin"),
        url=ADMIN_PREFIX,
        index_view=OverviewView(name=_l("Overview"), url=ADMIN_PREFIX, endpoint="admin"),
        theme=Bootstrap4Theme(base_template="admin/evosync_base.html", swatch="default", fluid=True),
    )
    users = _l("Users")
    admin.add_view(UsersView(name=_l("Users"), endpoint="admin_users", url="users", category=users))
    admin.add_view(RolesView(name=_l("Roles and permissions"), endpoint="admin_roles", url="roles", category=users))
    admin.add_view(AuditLogView(name=_l("Audit log"), endpoint="admin_audit", url="audit", category=users))
    caches = _l("Caches")
    admin.add_view(
        EvotorStoresView(name=_l("Evotor stores"), endpoint="admin_evotor_stores", url="evotor-stores", category=caches)
    )
    admin.add_view(
        EvotorGroupsView(name=_l("Evotor groups"), endpoint="admin_evotor_groups", url="evotor-groups", category=caches)
    )
    admin.add_view(
        EvotorProductsView(
            name=_l("Evotor products"), endpoint="admin_evotor_products", url="evotor-products", category=caches
        )
    )
    admin.add_view(VkAlbumsView(name=_l("VK albums"), endpoint="admin_vk_albums", url="vk-albums", category=caches))
    admin.add_view(
        VkProductsView(name=_l("VK products"), endpoint="admin_vk_products", url="vk-products", category=caches)
    )
    sync = _l("Sync")
    admin.add_view(SyncRunsView(name=_l("Sync runs"), endpoint="admin_sync_runs", url="sync-runs", category=sync))
    admin.add_view(SyncLinksView(name=_l("Sync links"), endpoint="admin_sync_links", url="sync-links", category=sync))
    connections = _l("Connections")
    admin.add_view(
        EvotorConnectionsView(
            name=_l("Evotor connections"),
            endpoint="admin_evotor_connections",
            url="evotor-connections",
            category=connections,
        )
    )
    admin.add_view(
        VkConnectionsView(
            name=_l("VK connections"), endpoint="admin_vk_connections", url="vk-connections", category=connections
        )
    )
    orders = _l("VK orders")
    admin.add_view(VkOrdersView(name=_l("VK orders"), endpoint="admin_vk_orders", url="vk-orders", category=orders))
    admin.add_view(
        VkOrderItemsView(name=_l("Order lines"), endpoint="admin_vk_order_items", url="vk-order-items", category=orders)
    )
    admin.add_view(
        VkOrderEventsView(
            name=_l("VK callback events"), endpoint="admin_vk_order_events", url="vk-order-events", category=orders
        )
    )
    admin.add_link(RqDashboardLink())
    init_rq_dashboard(app)
    app.extensions["evosync_admin"] = admin
    return admin
