"""The /connections page: connect, test and disconnect Evotor and VK (always the logged-in user's own rows)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, ValidationError

from .. import openapi
from ..auth import permission_required
from ..crypto import mask
from ..models import EvotorConnection, VkConnection
from ..services import connections as svc
from .common import wants_json

bp = Blueprint("connections", __name__, url_prefix="/connections")

PERMISSION = "connections.manage"


class EvotorTokenForm(FlaskForm):
    token = PasswordField(
        _l("Evotor cloud token"),
        validators=[DataRequired(_l("Paste the token first.")), Length(max=svc.MAX_TOKEN_LENGTH)],
        description=_l("In the Evotor personal account: Settings → Tokens (or the EvoSync app's page)."),
    )
    submit = SubmitField(_l("Save and check"))


def _valid_group(form: FlaskForm, field: StringField) -> None:
    try:
        svc.parse_group_ref(field.data or "")
    except ValueError:
        raise ValidationError(
            _("Enter the community's address (e.g. https://vk.com/club123 or vk.com/myshop) or its number.")
        ) from None


class VkConnectForm(FlaskForm):
    token = PasswordField(
        _l("VK access token"),
        validators=[DataRequired(_l("Paste the token first.")), Length(max=svc.MAX_TOKEN_LENGTH)],
        description=_l('A token of a community administrator with the "market" right.'),
    )
    group_id = StringField(
        _l("Community"),
        validators=[DataRequired(_l("Enter your community.")), Length(max=255), _valid_group],
        description=_l("Its address (https://vk.com/club123, vk.com/myshop), short name or number."),
    )
    submit = SubmitField(_l("Save and check"))


EVOTOR_STATE_LABELS = {
    svc.EVOTOR_NOT_CONNECTED: (_l("Not connected"), "secondary"),
    svc.EVOTOR_CONNECTED_BY_EVOTOR: (_l("Connected by Evotor"), "success"),
    svc.EVOTOR_CONNECTED_BY_HAND: (_l("Connected by hand"), "success"),
    svc.EVOTOR_BROKEN: (_l("Needs attention"), "danger"),
}
VK_STATE_LABELS = {
    "not_connected": (_l("Not connected"), "secondary"),
    "connected": (_l("Connected"), "success"),
    "broken": (_l("Needs attention"), "danger"),
}


def _when(moment) -> str:
    return format_datetime(moment, "medium") if moment else ""


def evotor_view(conn: EvotorConnection | None) -> dict[str, Any]:
    """What the page shows of the Evotor side: never the token itself, only its mask."""
    state = svc.evotor_display_state(conn)
    label, color = EVOTOR_STATE_LABELS[state]
    return {
        "state": state,
        "label": label,
        "color": color,
        "masked_token": mask(conn.access_token) if conn else "",
        "last_ok": _when(conn.last_ok_at) if conn else "",
        "last_error": (conn.last_error or "") if conn else "",
        "last_error_at": _when(conn.last_error_at) if conn else "",
        "linked": bool(conn and conn.evotor_user_id),
        "app_installed": conn.app_installed if conn else None,
    }


def vk_view(conn: VkConnection | None) -> dict[str, Any]:
    """What the page shows of the VK side: community, market switch, masked token, last error."""
    state = conn.state if conn and conn.access_token else "not_connected"
    label, color = VK_STATE_LABELS.get(state, VK_STATE_LABELS["broken"])
    return {
        "state": state,
        "label": label,
        "color": color,
        "masked_token": mask(conn.access_token) if conn else "",
        "group_id": conn.group_id if conn else None,
        "group_name": conn.group_name if conn else "",
        "group_screen_name": conn.group_screen_name if conn else "",
        "market_enabled": conn.market_enabled if conn else None,
        "last_ok": _when(conn.last_ok_at) if conn else "",
        "last_error": (conn.last_error or "") if conn else "",
        "last_error_at": _when(conn.last_error_at) if conn else "",
    }


def _render(evotor_form: EvotorTokenForm | None = None, vk_form: VkConnectForm | None = None, status: int = 200):
    user_id = current_user.id
    vk_conn = svc.get_vk_connection(user_id)
    vk_form = vk_form or VkConnectForm(formdata=None)
    if vk_conn and not vk_form.group_id.data:
        vk_form.group_id.data = str(vk_conn.group_id or vk_conn.group_screen_name or "") or None
    page = render_template(
        "connections/index.html",
        evotor=evotor_view(svc.get_evotor_connection(user_id)),
        vk=vk_view(vk_conn),
        evotor_form=evotor_form or EvotorTokenForm(formdata=None),
        vk_form=vk_form,
    )
    return page, status


def _check_answer(result: svc.CheckResult, payload: dict[str, Any]):
    """JSON for the inline Test button; a flash and a redirect for a plain form post (no JavaScript)."""
    if wants_json():
        return jsonify(payload)
    flash(result.message, "success" if result.ok else "danger")
    return redirect(url_for("connections.index"))


@bp.get("")
@permission_required(PERMISSION)
def index():
    return _render()


@bp.post("/evotor")
@permission_required(PERMISSION)
def save_evotor():
    form = EvotorTokenForm()
    if not form.validate_on_submit():
        return _render(evotor_form=form, status=400)
    result = svc.connect_evotor_by_hand(current_user.id, form.token.data)
    flash(result.message, "success" if result.ok else "danger")
    return redirect(url_for("connections.index"))


@bp.post("/evotor/disconnect")
@permission_required(PERMISSION)
def disconnect_evotor():
    if svc.disconnect_evotor(current_user.id):
        flash(_("Evotor is disconnected: EvoSync no longer reads your catalog."), "info")
    return redirect(url_for("connections.index"))


@bp.post("/evotor/test")
@permission_required(PERMISSION)
def test_evotor():
    result = svc.check_evotor(current_user.id)
    return _check_answer(result, result.evotor_json())


@bp.post("/vk")
@permission_required(PERMISSION)
def save_vk():
    form = VkConnectForm()
    if not form.validate_on_submit():
        return _render(vk_form=form, status=400)
    result = svc.connect_vk(current_user.id, form.token.data, form.group_id.data)
    flash(result.message, "success" if result.ok else "danger")
    return redirect(url_for("connections.index"))


@bp.post("/vk/disconnect")
@permission_required(PERMISSION)
def disconnect_vk():
    if svc.disconnect_vk(current_user.id):
        flash(_("VK is disconnected: EvoSync no longer changes your community's products."), "info")
    return redirect(url_for("connections.index"))


@bp.post("/vk/test")
@permission_required(PERMISSION)
def test_vk():
    result = svc.check_vk(current_user.id)
    return _check_answer(result, result.vk_json())


# --------------------------------------------------------------------------------------------- OpenAPI

_PROBLEM = {
    "type": "string",
    "nullable": True,
    "enum": ["token", "access", "market", "community", "service", "not_connected", None],
    "description": "What failed, when something did",
}
openapi.register_schema(
    "EvotorCheck",
    {
        "type": "object",
        "required": ["ok", "message", "stores"],
        "properties": {
            "ok": {"type": "boolean"},
            "message": {"type": "string", "description": "In the merchant's words"},
            "stores": {"type": "integer", "minimum": 0},
            "problem": _PROBLEM,
        },
    },
)
openapi.register_schema(
    "VkCheck",
    {
        "type": "object",
        "required": ["ok", "message"],
        "properties": {
            "ok": {"type": "boolean"},
            "message": {"type": "string", "description": "In the merchant's words"},
            "problem": _PROBLEM,
            "group_id": {"type": "integer"},
            "group_name": {"type": "string"},
        },
    },
)


def _check_doc(summary: str, schema: str) -> dict[str, Any]:
    return {
        "tags": ["Connections"],
        "summary": summary,
        "description": "Send `Accept: application/json` (and `X-CSRFToken`) for JSON; a plain form post "
        "gets a redirect to /connections with the result as a message.",
        "security": [{"session": []}],
        "responses": {
            "200": {
                "description": "The check ran (see `ok`)",
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
            },
            "302": {"description": "Plain form post: back to /connections (or to /login when logged out)"},
            "400": {"description": "Missing or wrong CSRF token"},
            "401": {"description": "Not logged in (JSON clients)"},
            "403": {"description": "The user may not manage connections"},
        },
    }


openapi.register_path("/connections/evotor/test", "post", _check_doc("Check the Evotor connection", "EvotorCheck"))
openapi.register_path("/connections/vk/test", "post", _check_doc("Check the VK connection", "VkCheck"))
