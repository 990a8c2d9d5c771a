"""The merchant's VK orders: the list (filters, search), one order (change its status in VK), order settings, and in
the demo a button that places a test order as a shopper. Every order is looked up with the merchant's own id."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields import SelectMultipleField
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from .. import demo
from ..auth import permission_required
from ..services import vk_order_pages as pages
from ..services import vk_orders
from ..services.sync import holds as rule
from ..services.vk_order_alerts import format_rubles
from .vk_callback import CALLBACK_PATH

bp = Blueprint("orders", __name__)
log = logging.getLogger(__name__)


def status_choices() -> list[tuple[int, str]]:
    return [(number, _(vk_orders.STATUS_WORDS[number])) for number in rule.KNOWN_STATUSES]


def status_word(number: int) -> str:
    word = vk_orders.STATUS_WORDS.get(number)
    return _(word) if word else _("Status %(n)s (new in VK)", n=number)


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), coerce=int)


class ActionForm(FlaskForm):
    """A button that posts: carries only the CSRF token."""


class OrderSettingsForm(FlaskForm):
    enabled = BooleanField(_l("Read my VK orders"))
    open_statuses = SelectMultipleField(
        _l("Orders in these statuses hold stock"),
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    confirmation_code = StringField(_l("Confirmation code from VK"), validators=[Length(max=64)])


def _callback_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + CALLBACK_PATH


@bp.get("/orders")
@permission_required("catalog.view")
def index():
    show = request.args.get("show", "all")
    show = show if show in pages.FILTERS else "all"
    status = request.args.get("status", type=int)
    if status is not None and status not in rule.KNOWN_STATUSES:
        status = None
    q = request.args.get("q", "")
    page = pages.list_orders(current_user.id, show, status, q, request.args.get("page", 1, type=int))
    settings = vk_orders.get_settings(current_user.id)
    return render_template(
        "orders/index.html",
        page=page,
        show=show,
        status=status,
        q=q,
        counts=pages.counts(current_user.id),
        settings=settings,
        status_word=status_word,
        statuses=status_choices(),
        rubles=format_rubles,
        demo=bool(current_app.config.get("DEMO_MODE")) and not current_app.config.get("PRODUCTION"),
        form=ActionForm(),
        poll_error=_(settings.last_poll_error) if settings and settings.last_poll_error else None,
    )


@bp.get("/orders/<int:order_id>")
@permission_required("catalog.view")
def show(order_id: int):
    view = pages.get_order(current_user.id, order_id)
    if view is None:
        abort(404)
    form = StatusForm(status=view.order.status)
    form.status.choices = status_choices()
    return render_template(
        "orders/show.html",
        view=view,
        form=form,
        status_word=status_word,
        rubles=format_rubles,
        can_change=current_user.has_permission("sync.run"),
    )


@bp.post("/orders/<int:order_id>/status")
@permission_required("sync.run")
def change_status(order_id: int):
    if pages.get_order(current_user.id, order_id) is None:
        abort(404)
    form = StatusForm()
    form.status.choices = status_choices()
    if not form.validate_on_submit():
        flash(_("The form expired or the status is not one of the list. Please try again."), "warning")
        return redirect(url_for("orders.show", order_id=order_id))
    try:
        vk_orders.change_status(current_user.id, order_id, form.status.data)
    except vk_orders.OrdersError as exc:
        flash(str(exc), "danger")
    else:
        flash(
            _(
                "Status changed in VK to \u201c%(status)s\u201d. The stock in VK follows with the next sync.",
                status=status_word(form.status.data),
            ),
            "success",
        )
    return redirect(url_for("orders.show", order_id=order_id))


@bp.route("/orders/settings", methods=["GET", "POST"])
@permission_required("sync.settings")
def settings():
    row = vk_orders.ensure_settings(current_user.id)
    form = (
        OrderSettingsForm(
            enabled=row.enabled,
            open_statuses=sorted(rule.parse_statuses(row.open_statuses)),
            confirmation_code=row.confirmation_code,
        )
        if request.method == "GET"
        else OrderSettingsForm()
    )
    form.open_statuses.choices = status_choices()
    if request.method == "POST":
        if form.validate_on_submit():
            vk_orders.save_settings(
                current_user.id, form.enabled.data, form.open_statuses.data or [], form.confirmation_code.data or ""
            )
            flash(_("Order settings saved."), "success")
            return redirect(url_for("orders.settings"))
        flash(_("The settings were not saved: please check the form."), "warning")
    return render_template(
        "orders/settings.html",
        form=form,
        row=row,
        callback_url=_callback_url(),
        action_form=ActionForm(),
    )


@bp.post("/orders/settings/new-secret")
@permission_required("sync.settings")
def new_secret():
    if not ActionForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "warning")
    else:
        vk_orders.new_callback_secret(current_user.id)
        flash(_("A new secret key was made: put it in VK's Callback API settings too."), "success")
    return redirect(url_for("orders.settings"))


@bp.post("/orders/test-order")
@permission_required("sync.run")
def test_order():
    """Demo only: ask the sandbox's VK to place an order as a shopper would."""
    if not current_app.config.get("DEMO_MODE") or current_app.config.get("PRODUCTION"):
        abort(404)
    if not ActionForm().validate_on_submit():
        flash(_("The form expired. Please try again."), "warning")
        return redirect(url_for("orders.index"))
    try:
        placed = demo.place_test_order(current_user.id)
    except demo.DemoRefused as exc:
        flash(_(str(exc)), "warning")
    else:
        flash(
            _(
                "A shopper ordered %(qty)s \u00d7 \u201c%(title)s\u201d in your VK community. It appears here within a "
                "minute (at once when VK's callbacks reach EvoSync).",
                qty=placed["quantity"],
                title=placed["title"],
            ),
            "success",
        )
    return redirect(url_for("orders.index"))
