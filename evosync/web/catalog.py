"""The Evotor catalog pages: stores, the group tree, products, publish toggles and "Refresh now"."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..auth import permission_required
from ..extensions import db
from ..models import ConnectionState, EvotorConnection, LinkStatus, SyncLink, utcnow
from ..queues import HIGH
from ..services.evotor_catalog import pages, scope, versions
from ..services.refreshes import request_catalog_refresh
from ..services.vk_catalog.pages import vk_item_url
from ..urls import safe_next
from .common import wants_json
from .page_cache import cached_page

bp = Blueprint("catalog", __name__, url_prefix="/catalog")
log = logging.getLogger(__name__)

PER_PAGE = 50
# The products table's VK column: each product's link state after the syncs.
LINK_LABELS = {
    LinkStatus.PUBLISHED: (_l("published"), "success"),
    LinkStatus.PENDING: (_l("waiting for the next sync"), "secondary"),
    LinkStatus.UNAVAILABLE: (_l("shown as not available"), "warning"),
    LinkStatus.ERROR: (_l("error"), "danger"),
    LinkStatus.SKIPPED: (_l("not published"), "light"),
    LinkStatus.REMOVED: (_l("removed from VK"), "secondary"),
}


def _vk_states(user_id: int, store_id: str, product_ids: list[str]) -> dict[str, tuple] | None:
    """The catalog's VK column: (label, colour, VK item URL or None, reason or None) per product.

    None (the column stays hidden) until the merchant's first sync has left any trace.
    """
    links = db.session.scalars(
        db.select(SyncLink).where(
            SyncLink.user_id == user_id,
            SyncLink.store_evotor_id == store_id,
            SyncLink.evotor_product_id.in_(product_ids or [""]),
        )
    ).all()
    # No link on this page: is there any at all (else the column stays hidden)? One query in the usual case.
    if not links and not db.session.scalar(db.select(SyncLink.id).filter_by(user_id=user_id).limit(1)):
        return None
    out: dict[str, tuple] = {}
    for link in links:
        label, colour = LINK_LABELS.get(link.status, (link.status, "secondary"))
        url = vk_item_url(int(link.group_id), int(link.vk_item_id)) if link.group_id and link.vk_item_id else None
        if link.status not in (LinkStatus.PUBLISHED, LinkStatus.UNAVAILABLE):
            url = None
        reason = _(link.last_error) if link.last_error and link.status != LinkStatus.PUBLISHED else None
        out[link.evotor_product_id] = (str(label), colour, url, reason)
    return out


def _wants_json_answer() -> bool:
    return wants_json() or request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _store_or_404(store_id: str):
    try:
        return scope.get_store(current_user.id, store_id)
    except scope.CatalogNotFound:
        abort(404)


def _connection() -> EvotorConnection | None:
    return db.session.execute(db.select(EvotorConnection).filter_by(user_id=current_user.id)).scalar_one_or_none()


def _connections_url() -> str:
    return url_for("connections.index")


def _parse_enabled() -> bool:
    raw = str(request.form.get("enabled") or (request.get_json(silent=True) or {}).get("enabled") or "")
    if raw.lower() not in {"1", "0", "true", "false", "on", "off"}:
        abort(400, description=_("Say whether to enable or disable (enabled=1 or enabled=0)."))
    return raw.lower() in {"1", "true", "on"}


@bp.get("")
@bp.get("/")
@permission_required("catalog.view")
def index():
    return redirect(url_for("catalog.stores"))


@bp.get("/stores")
@permission_required("catalog.view")
def stores():
    conn = _connection()
    connected = conn is not None and bool(conn.access_token) and conn.state != ConnectionState.NOT_CONNECTED
    paused = bool(conn and conn.paused_until and conn.paused_until > utcnow())
    return render_template(
        "catalog/stores.html",
        conn=conn,
        connected=connected,
        paused=paused,
        broken=bool(conn and conn.state == ConnectionState.BROKEN),
        overviews=pages.store_overviews(current_user.id) if connected else [],
        connections_url=_connections_url(),
    )


@bp.get("/stores/<store_id>/groups")
@permission_required("catalog.view")
def groups(store_id: str):
    store = _store_or_404(store_id)
    enabled = scope.store_enabled_map(current_user.id).get(store_id, False)
    tree = scope.group_tree(current_user.id, store_id, store_is_enabled=enabled)
    top_level = pages.product_page(current_user.id, store_id, per_page=1, store=store).total - sum(
        n.total_count for n in tree
    )
    return render_template("catalog/groups.html", store=store, store_enabled=enabled, tree=tree, top_level=top_level)


@bp.get("/stores/<store_id>/products")
@permission_required("catalog.view")
def products(store_id: str):
    versions = scope.store_versions(current_user.id, store_id)
    if versions is None:
        abort(404)
    # Served from this process's page cache while the store's data is unchanged: every writer of products, groups
    # and sync links renews these tokens (product_count and name are shown, and may be set on their own).
    return cached_page(tuple(versions), lambda: _render_products(store_id))


def _render_products(store_id: str) -> str:
    store = _store_or_404(store_id)
    group_id = request.args.get("group") or None
    query = request.args.get("q", "")
    page_no = request.args.get("page", 1, type=int) or 1
    try:
        page = pages.product_page(
            current_user.id, store_id, group_id=group_id, query=query, page=page_no, per_page=PER_PAGE, store=store
        )
    except scope.CatalogNotFound:
        abort(404)
    vk_states = _vk_states(current_user.id, store_id, [p.evotor_id for p in page.items])
    names = versions.group_names(current_user.id, store_id, version=store.groups_version)
    return render_template(
        "catalog/products.html",
        store=store,
        page=page,
        query=query,
        group_id=group_id,
        group_name=names.get(group_id) if group_id else None,
        group_names=names,
        groups_flat=sorted(names.items(), key=lambda kv: kv[1].lower()),
        vk_states=vk_states,
    )


@bp.post("/stores/<store_id>/toggle")
@permission_required("catalog.manage")
def toggle_store(store_id: str):
    _store_or_404(store_id)
    enabled = _parse_enabled()
    store = scope.set_store_enabled(current_user.id, store_id, enabled)
    if _wants_json_answer():
        return jsonify(
            {
                "ok": True,
                "store_id": store_id,
                "enabled": enabled,
                "groups": scope.effective_group_states(current_user.id, store_id),
            }
        )
    if enabled:
        flash(_("Store «%(name)s» will be published to VK.", name=store.name), "success")
    else:
        flash(_("Store «%(name)s» will not be published to VK.", name=store.name), "info")
    return redirect(safe_next(request.form.get("next"), url_for("catalog.stores")))


@bp.post("/stores/<store_id>/groups/<group_id>/toggle")
@permission_required("catalog.manage")
def toggle_group(store_id: str, group_id: str):
    _store_or_404(store_id)
    enabled = _parse_enabled()
    try:
        group = scope.set_group_enabled(current_user.id, store_id, group_id, enabled)
    except scope.CatalogNotFound:
        abort(404)
    if _wants_json_answer():
        return jsonify(
            {
                "ok": True,
                "store_id": store_id,
                "group_id": group_id,
                "enabled": enabled,
                "groups": scope.effective_group_states(current_user.id, store_id),
            }
        )
    if enabled:
        flash(_("Group «%(name)s» and what is inside it will be published.", name=group.name), "success")
    else:
        flash(_("Group «%(name)s» and everything inside it will not be published.", name=group.name), "info")
    return redirect(safe_next(request.form.get("next"), url_for("catalog.groups", store_id=store_id)))


@bp.post("/refresh")
@permission_required("catalog.manage")
def refresh():
    conn = _connection()
    if conn is None or not conn.access_token or conn.state == ConnectionState.NOT_CONNECTED:
        message = _("Connect Evotor first: then we can read your catalog.")
        if _wants_json_answer():
            return jsonify({"ok": False, "message": message}), 409
        flash(message, "warning")
        return redirect(url_for("catalog.stores"))
    request_catalog_refresh(current_user.id, queue=HIGH, sync_after=False)
    if current_app.config.get("RUN_JOBS_INLINE"):
        message = _("The catalog has been refreshed from Evotor.")
    else:
        message = _("Refreshing your catalog from Evotor. This takes a minute or two; reload the page to see it.")
    if _wants_json_answer():
        return jsonify({"ok": True, "message": message}), 202
    flash(message, "success")
    return redirect(safe_next(request.form.get("next"), url_for("catalog.stores")))
