"""The merchant's own account: see it, edit name/phone/email, delete it (the password change is Flask-Security's)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_security import login_required, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from ..models import ConnectionState, RunStatus, UserStatus
from ..services import account_deletion, accounts
from ..services.onboarding import onboarding_for

bp = Blueprint("profile", __name__, url_prefix="/profile")

STATUS_LABELS = {
    UserStatus.PENDING: _l("Waiting for email confirmation"),
    UserStatus.ACTIVE: _l("Active"),
    UserStatus.SUSPENDED: _l("Suspended"),
}
ROLE_LABELS = {"system": _l("System administrator"), "admin": _l("Administrator"), "user": _l("Merchant")}
CONNECTION_LABELS = {
    ConnectionState.NOT_CONNECTED: _l("Not connected"),
    ConnectionState.CONNECTED: _l("Connected"),
    ConnectionState.BROKEN: _l("Needs attention: reconnect"),
}
RUN_LABELS = {
    RunStatus.QUEUED: _l("Waiting to start"),
    RunStatus.RUNNING: _l("Running"),
    RunStatus.SUCCEEDED: _l("Finished"),
    RunStatus.PARTIAL: _l("Finished with some errors"),
    RunStatus.FAILED: _l("Failed"),
    RunStatus.WAITING_CONFIRMATION: _l("Waiting for your confirmation"),
    RunStatus.CANCELLED: _l("Cancelled"),
}


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    phone = StringField(
        _l("Phone"),
        validators=[Optional(), Length(max=32)],
        description=_l("For urgent alerts about your shop, e.g. +7 912 345-67-89."),
    )
    sms_alerts = BooleanField(
        _l("Also send me an SMS when syncing with VK stops, and when it works again"),
        description=_l("We always send an email; an SMS only with this box ticked and a phone number above."),
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(), Length(max=255)],
        description=_l("If you change it, we email the new address a link; the change happens when you open it."),
    )
    submit = SubmitField(_l("Save"))


class DeleteAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired()])
    remove_vk_items = BooleanField(_l("First remove the products and albums EvoSync created in my VK community"))
    submit = SubmitField(_l("Delete my account for good"))


@bp.get("")
@login_required
def show():
    return render_template(
        "profile/show.html",
        user=current_user,
        summary=accounts.profile_summary(current_user),
        status_labels=STATUS_LABELS,
        role_labels=ROLE_LABELS,
        connection_labels=CONNECTION_LABELS,
        run_labels=RUN_LABELS,
        # staff without a shop of their own have nothing to set up
        onboarding=onboarding_for(current_user.id) if current_user.has_role("user") else None,
    )


@bp.route("/edit", methods=["GET", "POST"])
@login_required
def edit():
    user = current_user
    form = ProfileForm(obj=user)
    if form.validate_on_submit():
        try:
            new_email = accounts.update_profile(
                user, form.name.data, form.phone.data, form.email.data, sms_alerts=form.sms_alerts.data
            )
        except accounts.FieldError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            if new_email:
                flash(
                    _(
                        "Saved. We have sent a link to %(email)s: your email changes when you open it. "
                        "Until then, keep logging in with %(current)s.",
                        email=new_email,
                        current=user.email,
                    ),
                    "info",
                )
            else:
                flash(_("Your profile is saved."), "success")
            return redirect(url_for(".show"))
    status = 400 if form.errors else 200
    return render_template("profile/edit.html", form=form), status


@bp.get("/confirm-email/<token>")
def confirm_email_change(token: str):
    """The link from the email sent to a new address: no login needed, the signed link is the proof."""
    try:
        user = accounts.confirm_email_change(token)
    except accounts.AccountError as exc:
        flash(str(exc), "danger")
        return redirect(url_for(".show") if current_user.is_authenticated else url_for("security.login"))
    flash(_("Your email is now %(email)s. Use it to log in.", email=user.email), "success")
    return redirect(url_for(".show") if current_user.is_authenticated else url_for("security.login"))


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    form = DeleteAccountForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not user.verify_and_update_password(form.password.data):
            form.password.errors.append(_("This is not your current password."))
        else:
            remove_vk_items = bool(form.remove_vk_items.data)
            logout_user()
            account_deletion.request_account_deletion(user, remove_vk_items=remove_vk_items)
            if remove_vk_items and accounts.find_user_by_email(user.email) is not None:
                flash(
                    _(
                        "Your account is closed. EvoSync is removing its items from your VK community and will "
                        "then delete all your data."
                    ),
                    "info",
                )
            else:
                flash(_("Your account and all its data have been deleted. Thank you for using EvoSync."), "info")
            return redirect(url_for("security.login"))
    status = 400 if form.errors else 200
    return render_template("profile/delete.html", form=form), status
