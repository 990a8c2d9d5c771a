"""The VK market pages: the community's albums, the products of each, and "Refresh now"."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..auth import permission_required
from ..models import ConnectionState, VkConnection, utcnow
from ..queues import HIGH
from ..services.connections import get_vk_connection
from ..services.refreshes import request_vk_refresh
from ..services.vk_catalog import pages as vk_pages
from ..services.vk_catalog import refresh as vk_refresh
from .common import wants_json

bp = Blueprint("vk_catalog", __name__, url_prefix="/vk-catalog")
log = logging.getLogger(__name__)

PER_PAGE = 24  # a grid of 1 / 2 / 3 / 4 columns fills evenly


def _connections_url() -> str:
    return url_for("connections.index")


def _is_connected(conn: VkConnection | None) -> bool:
    return bool(conn and conn.access_token and conn.group_id and conn.state != ConnectionState.NOT_CONNECTED)


def _page_context(conn: VkConnection | None) -> dict:
    """What every VK catalog page shows above its content: connection, last refresh, what to do next."""
    last = vk_refresh.last_refresh(current_user.id)
    return {
        "conn": conn,
        "connected": _is_connected(conn),
        "broken": bool(conn and conn.state == ConnectionState.BROKEN),
        "paused": bool(conn and conn.paused_until and conn.paused_until > utcnow()),
        "last": last,
        "last_message": vk_refresh.explain(last["reason"], **(last.get("params") or {})) if last else None,
        "connections_url": _connections_url(),
        "can_refresh": current_user.has_permission("catalog.manage"),
        "vk_item_url": vk_pages.vk_item_url,
        "can_retry": current_user.has_permission("sync.run"),
    }


@bp.get("")
@bp.get("/")
@permission_required("catalog.view")
def index():
    return redirect(url_for("vk_catalog.albums"))


@bp.get("/albums")
@permission_required("catalog.view")
def albums():
    conn = get_vk_connection(current_user.id)
    context = _page_context(conn)
    albums = vk_pages.mirror_albums(current_user.id)
    total, unalbumed = vk_pages.count_products(current_user.id)
    never_refreshed = not albums and not total and context["last"] is None
    return render_template(
        "vk_catalog/albums.html",
        albums=albums,
        total=total,
        unalbumed=unalbumed,
        never_refreshed=never_refreshed,
        **context,
    )


def _products(album, vk_album_id: int | None, title: str):
    conn = get_vk_connection(current_user.id)
    page_no = max(1, request.args.get("page", 1, type=int) or 1)
    page = vk_pages.products_page(current_user.id, vk_album_id, page=page_no, per_page=PER_PAGE)
    if page_no > page.pages:
        abort(404)
    return render_template("vk_catalog/products.html", album=album, title=title, page=page, **_page_context(conn))


@bp.get("/albums/<int:album_id>/products")
@permission_required("catalog.view")
def album_products(album_id: int):
    """Products of one album (``album_id`` is the mirror row's id); 0 shows the items in no album."""
    if album_id == vk_pages.NO_ALBUM:
        return _products(None, vk_pages.NO_ALBUM, _("Not in any album"))
    album = vk_pages.mirror_album(current_user.id, album_id)
    if album is None:
        abort(404)
    return _products(album, album.vk_album_id, album.title)


@bp.get("/products")
@permission_required("catalog.view")
def products():
    """Every mirrored product, newest first."""
    return _products(None, vk_pages.ALL_ITEMS, _("All products"))


@bp.post("/items/<int:vk_item_id>/moderate-again")
@permission_required("sync.run")
def moderate_again(vk_item_id: int):
    """Send an item VK's moderators rejected to moderation again: the next sync rewrites it."""
    if not vk_pages.ask_moderation_again(current_user.id, vk_item_id):
        abort(404)  # not an item EvoSync manages for this merchant
    flash(_("The item will be sent to VK's moderation again with the next sync."), "success")
    return redirect(request.referrer if _same_site(request.referrer) else url_for("vk_catalog.products"))


def _same_site(url: str | None) -> bool:
    return bool(url) and url.startswith(request.host_url)


@bp.post("/refresh")
@permission_required("catalog.manage")
def refresh():
    if not _is_connected(get_vk_connection(current_user.id)):
        message = _("Connect your VK community first: then we can read its products.")
        if wants_json():
            return jsonify({"ok": False, "message": message}), 409
        flash(message, "warning")
        return redirect(url_for("vk_catalog.albums"))
    request_vk_refresh(current_user.id, queue=HIGH)
    if current_app.config.get("RUN_JOBS_INLINE"):
        last = vk_refresh.last_refresh(current_user.id) or {}
        ok = last.get("status") == "ok"
        message = vk_refresh.explain(last.get("reason", "vk_error"), **(last.get("params") or {}))
        category = "success" if ok else "warning"
    else:
        message = _("Reading your VK market now. This takes up to a minute; reload the page to see it.")
        ok, category = True, "success"
    if wants_json():
        return jsonify({"ok": ok, "message": message}), 202
    flash(message, category)
    return redirect(url_for("vk_catalog.albums"))
