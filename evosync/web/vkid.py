"""'Connect with VK' through VK ID: start the sign-in, take VK ID's answer, pick the community."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, SubmitField
from wtforms.validators import Length, ValidationError

from ..auth import permission_required
from ..models import ConnectionState
from ..services import vkid as svc
from ..services.connections import get_vk_connection, parse_group_ref
from ..services.vkid_tokens import METHOD_VKID

bp = Blueprint("vkid", __name__, url_prefix="/connections/vk/vkid")

PERMISSION = "connections.manage"


class ChooseCommunityForm(FlaskForm):
    group_id = RadioField(_l("Your communities"), choices=[], validate_choice=False)
    other = StringField(
        _l("Or type the community"),
        validators=[Length(max=255)],
        description=_l("Its address (https://vk.com/club123, vk.com/myshop), short name or number."),
    )
    submit = SubmitField(_l("Publish to this community"))

    def chosen(self) -> str:
        """What the merchant picked: the typed community wins over the list."""
        return (self.other.data or "").strip() or (self.group_id.data or "").strip()

    def validate_other(self, field: StringField) -> None:
        value = self.chosen()
        if not value:
            raise ValidationError(_("Pick a community from the list or type its address."))
        try:
            parse_group_ref(value)
        except ValueError:
            raise ValidationError(
                _("Enter the community's address (e.g. https://vk.com/club123 or vk.com/myshop) or its number.")
            ) from None


def _problem(error: svc.VkIdFlowError, status: int):
    return render_template("vkid/problem.html", message=error.message, reason=error.reason), status


@bp.get("/start")
@permission_required(PERMISSION)
def start():
    """Send the browser to VK ID's sign-in page (state and PKCE verifier stay on the server)."""
    try:
        return redirect(svc.start_flow(current_user.id), code=302)
    except svc.VkIdFlowError as exc:
        flash(exc.message, "warning")
        return redirect(url_for("connections.index"))


@bp.get("/callback")
@permission_required(PERMISSION)
def callback():
    """VK ID's answer: denied, or a code to exchange for tokens; then on to the community choice."""
    try:
        svc.finish_flow(current_user.id, request.args)
    except svc.VkIdFlowError as exc:
        if exc.reason == "denied":
            flash(exc.message, "info")
            return redirect(url_for("connections.index"))
        return _problem(exc, 502 if exc.reason == "service" else 400)
    flash(_("You are signed in with VK. Now choose the community whose products EvoSync should manage."), "success")
    return redirect(url_for("vkid.choose_community"))


@bp.route("/choose-community", methods=["GET", "POST"])
@permission_required(PERMISSION)
def choose_community():
    """Pick one of the communities the VK user manages (or type one); the connection test runs on save."""
    conn = svc.vkid_connection(current_user.id)
    if conn is None:
        flash(_('Press "Connect with VK" first: EvoSync needs your VK sign-in before you choose a community.'), "info")
        return redirect(url_for("connections.index"))
    groups, listing_problem = svc.admin_communities(current_user.id)
    form = ChooseCommunityForm()
    form.group_id.choices = [(str(g["id"]), g["name"] or str(g["id"])) for g in groups]
    result = None
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            result = svc.choose_community(current_user.id, form.chosen())
            if result.ok:
                flash(result.message, "success")
                return redirect(url_for("connections.index"))
        else:
            status = 400
    elif conn.group_id and not form.group_id.data:
        if any(g["id"] == conn.group_id for g in groups):
            form.group_id.data = str(conn.group_id)
        else:
            form.other.data = str(conn.group_id)
    page = render_template(
        "vkid/choose.html",
        form=form,
        groups=groups,
        listing_problem=listing_problem,
        result=result,
    )
    return page, status


@bp.app_context_processor
def _vkid_panel() -> dict[str, Any]:
    """``vkid_panel()`` for the Connections page: the VK ID button and how the VK connection was made."""

    def vkid_panel() -> dict[str, Any]:
        configured = bool(current_app.config.get("VK_ID_CLIENT_ID"))
        conn = get_vk_connection(current_user.id) if current_user.is_authenticated else None
        connected = bool(conn and conn.access_token)
        method = (conn.method if connected else None) or None
        vkid = connected and method == METHOD_VKID
        expires = conn.token_expires_at if vkid else None
        return {
            "configured": configured,
            "method": method,
            "expires_at": format_datetime(expires, "medium") if expires else "",
            "renewable": bool(vkid and conn.refresh_token),
            # VK ID refused the refresh (the dead refresh token was dropped): only a new sign-in helps.
            "needs_reconnect": bool(vkid and not conn.refresh_token),
            # Signed in, but no community tested yet (just after the callback, or the last pick failed).
            "needs_community": bool(
                vkid and conn.refresh_token and conn.state != ConnectionState.CONNECTED and conn.last_ok_at is None
            ),
        }

    return {"vkid_panel": vkid_panel}
