"""Read-only views: the audit log, the Evotor and VK caches, sync links and runs, connections (secrets masked)."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from flask import g, url_for
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_admin.model.typefmt import BASE_FORMATTERS
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup

from ..crypto import mask
from ..extensions import db
from ..models import (
    AuditLog,
    CachedGroup,
    CachedProduct,
    CachedStore,
    ConnectionState,
    EvotorConnection,
    LinkStatus,
    RunStatus,
    SyncLink,
    SyncRun,
    User,
    VkCachedAlbum,
    VkCachedProduct,
    VkConnection,
)
from ..services.admin import ROLE_PERMISSIONS_ACTION, UserAction
from ..services.sync.runner import TRIGGERS
from .access import NoUnusedRoutesMixin, StaffOnlyMixin
from .filters import choice_filter, owner_filters

# Times to the second: the microseconds of a naive UTC timestamp only make lists harder to read.
TYPE_FORMATTERS = {**BASE_FORMATTERS, dt.datetime: lambda view, value, name: value.strftime("%Y-%m-%d %H:%M:%S")}


class ReadOnlyView(StaffOnlyMixin, NoUnusedRoutesMixin, ModelView):
    """A list (and a details page) of one table; nothing can be created, edited or deleted here."""

    form_base_class = FlaskForm
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    can_export = False
    can_set_page_size = True
    list_template = "admin/evosync_list.html"
    page_size = 50
    column_display_pk = True
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = TYPE_FORMATTERS
    model = None  # set by subclasses

    def __init__(self, **kwargs) -> None:
        super().__init__(self.model, db.session, **kwargs)


class MerchantTableView(ReadOnlyView):
    """A table whose rows belong to a merchant: filterable by the owner, who is shown by email."""

    def __init__(self, **kwargs) -> None:
        self.column_filters = [*owner_filters(self.model), *self.build_filters()]
        if self.column_details_list is None:  # every column, the owner included (Flask-Admin skips foreign keys)
            self.column_details_list = [column.key for column in self.model.__table__.columns]
        self.column_formatters = {"user_id": _owner_link, **self.formatters()}
        super().__init__(**kwargs)

    def build_filters(self) -> list:
        return []

    def formatters(self) -> dict:
        return {}

    def get_list(self, *args, **kwargs):
        count, rows = super().get_list(*args, **kwargs)
        ids = {row.user_id for row in rows}
        g.admin_owner_emails = (
            dict(db.session.execute(sa.select(User.id, User.email).where(User.id.in_(ids))).all()) if ids else {}
        )
        return count, rows


def _owner_link(view, context, model, name) -> Markup:
    user_id = model.user_id
    emails = g.get("admin_owner_emails")
    if emails is None or user_id not in emails:
        emails = {user_id: db.session.scalar(sa.select(User.email).where(User.id == user_id)) or f"#{user_id}"}
    return Markup('<a href="{}">{}</a>').format(url_for("admin_users.detail", user_id=user_id), emails[user_id])


def _masked(view, context, model, name) -> str:
    """Never the token itself: its last characters only, enough to tell two tokens apart."""
    return mask(getattr(model, name))


def _json(view, context, model, name) -> Markup:
    value = getattr(model, name)
    if not value:
        return Markup("")
    return Markup("<code>{}</code>").format(json.dumps(value, ensure_ascii=False, sort_keys=True))


# --- Audit ---------------------------------------------------------------------------------------------------------


# Fixed data: Flask-Admin reads filter options when the view is built, outside any app context.
AUDIT_ACTIONS = [*(a.value for a in UserAction), ROLE_PERMISSIONS_ACTION, "account.delete"]


class AuditLogView(ReadOnlyView):
    model = AuditLog
    permission = "audit.view"
    column_list = ["created_at", "actor_email", "action", "target_email", "target_user_id", "details"]
    column_sortable_list = ["created_at", "actor_email", "action", "target_email"]
    column_default_sort = [("created_at", True), ("id", True)]
    column_searchable_list = ["actor_email", "target_email", "action"]
    column_labels = {
        "created_at": _l("When"),
        "actor_email": _l("Who"),
        "action": _l("What"),
        "target_email": _l("To whom"),
        "target_user_id": _l("User id"),
        "details": _l("Details"),
    }
    column_formatters = {"details": _json}

    def __init__(self, **kwargs) -> None:
        self.column_filters = [
            FilterEqual(AuditLog.action, _l("What"), options=[(a, a) for a in AUDIT_ACTIONS]),
            FilterLike(AuditLog.actor_email, _l("Who")),
            FilterLike(AuditLog.target_email, _l("To whom")),
            FilterEqual(AuditLog.target_user_id, _l("User id")),
            "created_at",
        ]
        super().__init__(**kwargs)


# --- Caches --------------------------------------------------------------------------------------------------------


class EvotorStoresView(MerchantTableView):
    model = CachedStore
    column_list = ["id", "user_id", "evotor_id", "name", "address", "refreshed_at"]
    column_searchable_list = ["name", "evotor_id"]
    column_sortable_list = ["id", "user_id", "name", "refreshed_at"]


class EvotorGroupsView(MerchantTableView):
    model = CachedGroup
    column_list = ["id", "user_id", "store_evotor_id", "evotor_id", "parent_id", "name", "refreshed_at"]
    column_searchable_list = ["name", "evotor_id"]
    column_sortable_list = ["id", "user_id", "name", "refreshed_at"]


class EvotorProductsView(MerchantTableView):
    model = CachedProduct
    column_list = [
        "id",
        "user_id",
        "store_evotor_id",
        "evotor_id",
        "name",
        "code",
        "price",
        "quantity",
        "allow_to_sell",
        "refreshed_at",
    ]
    column_searchable_list = ["name", "code", "article_number", "evotor_id"]
    column_sortable_list = ["id", "user_id", "name", "code", "price", "refreshed_at"]


class VkAlbumsView(MerchantTableView):
    model = VkCachedAlbum
    column_list = ["id", "user_id", "group_id", "vk_album_id", "title", "item_count", "is_main", "refreshed_at"]
    column_searchable_list = ["title"]
    column_sortable_list = ["id", "user_id", "title", "item_count", "refreshed_at"]


class VkProductsView(MerchantTableView):
    model = VkCachedProduct
    column_list = [
        "id",
        "user_id",
        "group_id",
        "vk_item_id",
        "title",
        "price",
        "availability",
        "removal",
        "sku",
        "refreshed_at",
    ]
    column_searchable_list = ["title", "sku"]
    column_sortable_list = ["id", "user_id", "title", "price", "refreshed_at"]


# --- Sync ----------------------------------------------------------------------------------------------------------


class SyncLinksView(MerchantTableView):
    model = SyncLink
    column_list = [
        "id",
        "user_id",
        "store_evotor_id",
        "evotor_product_id",
        "sku",
        "vk_item_id",
        "status",
        "last_error",
        "last_synced_at",
    ]
    column_searchable_list = ["sku", "evotor_product_id"]
    column_sortable_list = ["id", "user_id", "status", "last_synced_at"]

    def build_filters(self) -> list:
        return [choice_filter(SyncLink.status, _l("Status"), LinkStatus)]


class SyncRunsView(MerchantTableView):
    model = SyncRun
    column_list = [
        "id",
        "user_id",
        "trigger",
        "status",
        "dry_run",
        "created_at",
        "finished_at",
        "created_count",
        "updated_count",
        "removed_count",
        "failed_count",
        "error",
    ]
    column_sortable_list = ["id", "user_id", "status", "created_at", "finished_at", "failed_count"]
    column_default_sort = [("created_at", True), ("id", True)]

    def build_filters(self) -> list:
        return [
            choice_filter(SyncRun.status, _l("Status"), RunStatus),
            choice_filter(SyncRun.trigger, _l("Trigger"), TRIGGERS),
            "created_at",
        ]

    def formatters(self) -> dict:
        return {"details": _json}


# --- Connections (secrets masked) ------------------------------------------------------------------------------------


class EvotorConnectionsView(MerchantTableView):
    model = EvotorConnection
    can_view_details = False  # the list shows every column worth seeing, with secrets masked
    column_list = [
        "id",
        "user_id",
        "evotor_user_id",
        "source",
        "state",
        "app_installed",
        "last_ok_at",
        "last_error",
        "access_token",
        "api_token",
        "webhook_signing_secret",
    ]
    column_details_list = column_list
    column_sortable_list = ["id", "user_id", "state", "last_ok_at"]
    column_searchable_list = ["evotor_user_id"]

    def build_filters(self) -> list:
        return [choice_filter(EvotorConnection.state, _l("State"), ConnectionState)]

    def formatters(self) -> dict:
        return {"access_token": _masked, "api_token": _masked, "webhook_signing_secret": _masked}


class VkConnectionsView(MerchantTableView):
    model = VkConnection
    can_view_details = False
    column_list = [
        "id",
        "user_id",
        "method",
        "group_id",
        "group_name",
        "state",
        "market_enabled",
        "token_expires_at",
        "last_ok_at",
        "last_error",
        "access_token",
        "refresh_token",
    ]
    column_details_list = column_list
    column_sortable_list = ["id", "user_id", "state", "last_ok_at"]
    column_searchable_list = ["group_name", "group_screen_name"]

    def build_filters(self) -> list:
        return [choice_filter(VkConnection.state, _l("State"), ConnectionState)]

    def formatters(self) -> dict:
        return {"access_token": _masked, "refresh_token": _masked}
