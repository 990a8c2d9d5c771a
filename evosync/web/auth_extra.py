"""Account pages Flask-Security does not provide as we need them: forgot password, resend confirmation, invites."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_security import login_user
from flask_security.confirmable import send_confirmation_instructions
from flask_security.recoverable import send_reset_password_instructions
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from ..extensions import db
from ..models import UserStatus
from ..services import accounts

bp = Blueprint("auth_extra", __name__)


class EmailRequestForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=255)])
    submit = SubmitField(_l("Send the link"))


class InviteForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=120)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])
    password_confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords are different."))],
    )
    submit = SubmitField(_l("Create my account"))


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    """Ask for a password link; the answer is the same whether or not the address has an account."""
    form = EmailRequestForm(email=request.args.get("email", ""))
    if form.validate_on_submit():
        user = accounts.find_user_by_email(form.email.data)
        if user is not None and user.status != UserStatus.SUSPENDED:
            send_reset_password_instructions(user)
        flash(
            _(
                "If %(email)s has an EvoSync account, we have emailed it a link to set a new password. "
                "The link works for %(within)s. Not there? Check the spam folder.",
                email=form.email.data,
                within=format_timedelta(current_app.config["SECURITY_RESET_PASSWORD_WITHIN"], threshold=1),
            ),
            "info",
        )
        return redirect(url_for(".forgot_password"))
    return render_template("security/forgot_password.html", form=form)


@bp.route("/resend-confirm", methods=["GET", "POST"])
def resend_confirm():
    """Send the confirmation link again; the same answer for unknown and already confirmed addresses."""
    form = EmailRequestForm(email=request.args.get("email", ""))
    if form.validate_on_submit():
        user = accounts.find_user_by_email(form.email.data)
        if user is not None and user.status == UserStatus.PENDING and user.password and user.confirmed_at is None:
            send_confirmation_instructions(user)
        flash(
            _(
                "If %(email)s is waiting for confirmation, we have emailed it a new link. "
                "Open it, then log in. Not there? Check the spam folder.",
                email=form.email.data,
            ),
            "info",
        )
        return redirect(url_for(".resend_confirm"))
    return render_template("security/resend_confirm.html", form=form)


@bp.route("/invite", methods=["GET", "POST"])
def invite():
    """Finish an invited account: name and password; the account is active at once."""
    token = request.args.get("token", "")
    try:
        invitation = accounts.get_valid_invite(token)
    except accounts.AccountError as exc:
        return _invite_problem(exc)
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = accounts.accept_invite(token, form.name.data, form.password.data)
        except (accounts.InviteInvalid, accounts.InviteExpired, accounts.InviteUsed) as exc:
            return _invite_problem(exc)
        except accounts.AccountError as exc:
            form.password.errors.append(str(exc))
        else:
            login_user(user, authn_via=["invite"])
            db.session.commit()
            flash(_("Welcome to EvoSync! Your account is ready."), "success")
            return redirect(url_for("profile.show"))
    return render_template("security/invite.html", form=form, invitation=invitation, token=token)


def _invite_problem(exc: accounts.AccountError):
    status = 404 if isinstance(exc, accounts.InviteInvalid) else 410
    return render_template("security/invite_problem.html", message=str(exc)), status
