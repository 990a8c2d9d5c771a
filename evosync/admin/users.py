"""The Users section: list with search and filters, a page per user, and the actions (one by one or in bulk)."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.exceptions import NotFound
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..extensions import db
from ..models import ConnectionState, Role, User, UserStatus
from ..services import admin as admin_service
from ..services.accounts import AccountError, FieldError
from ..services.admin import UserAction
from ..urls import safe_next
from .access import NoUnusedRoutesMixin, StaffOnlyMixin, require, staff_can
from .filters import RoleFilter, choice_filter, evotor_connected_filter, vk_connected_filter
from .readonly import TYPE_FORMATTERS

STATUS_LABELS = {
    UserStatus.PENDING: _l("pending"),
    UserStatus.ACTIVE: _l("active"),
    UserStatus.SUSPENDED: _l("suspended"),
}
STATUS_BADGES = {UserStatus.PENDING: "warning", UserStatus.ACTIVE: "success", UserStatus.SUSPENDED: "danger"}
CONNECTION_LABELS = {
    ConnectionState.NOT_CONNECTED: _l("not connected"),
    ConnectionState.CONNECTED: _l("connected"),
    ConnectionState.BROKEN: _l("broken"),
}
# The actions a button (or an API client) can POST with no other input.
SIMPLE_ACTIONS = (UserAction.ACTIVATE, UserAction.SUSPEND, UserAction.RESET_PASSWORD, UserAction.SEND_INVITE)
DONE_MESSAGES = {
    UserAction.ACTIVATE: _l("%(email)s is active."),
    UserAction.SUSPEND: _l("%(email)s is suspended: they cannot log in and their scheduled syncs stop."),
    UserAction.RESET_PASSWORD: _l("A link to set a new password has been emailed to %(email)s."),
    UserAction.SEND_INVITE: _l("An invitation has been emailed to %(email)s."),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserEditForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=255)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])
    roles = MultiCheckboxField(_l("Roles"), choices=[])
    status = SelectField(_l("Status"), choices=[(s.value, STATUS_LABELS[s]) for s in UserStatus])


class InviteForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=255)])


class UsersView(StaffOnlyMixin, NoUnusedRoutesMixin, ModelView):
    """Users: read through Flask-Admin's list; every change goes through services.admin and its guard rails."""

    list_template = "admin/evosync_users_list.html"
    form_base_class = FlaskForm  # the action form then carries Flask-WTF's CSRF token
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = False
    can_set_page_size = True
    page_size = 50
    column_type_formatters = TYPE_FORMATTERS
    column_list = ["email", "name", "phone", "status", "roles", "evotor", "vk", "created_at", "last_login_at"]
    column_searchable_list = ["email", "name", "phone"]
    column_sortable_list = ["email", "name", "phone", "status", "created_at", "last_login_at"]
    column_default_sort = ("created_at", True)
    column_labels = {
        "email": _l("Email"),
        "name": _l("Name"),
        "phone": _l("Phone"),
        "status": _l("Status"),
        "roles": _l("Roles"),
        "evotor": _l("Evotor"),
        "vk": _l("VK"),
        "created_at": _l("Registered"),
        "last_login_at": _l("Last login"),
    }

    def __init__(self, **kwargs) -> None:
        # The order fixes the URL arguments (flt0_<index>): the overview links to flt0_1 (status).
        self.column_filters = [
            RoleFilter(),
            choice_filter(User.status, _l("Status"), UserStatus),
            evotor_connected_filter(),
            vk_connected_filter(),
        ]
        self.column_formatters = {
            "email": self._email_link,
            "status": self._status_badge,
            "roles": lambda v, c, m, p: ", ".join(sorted(m.role_names)),
            "evotor": lambda v, c, m, p: self._connection(m, "evotor"),
            "vk": lambda v, c, m, p: self._connection(m, "vk"),
        }
        super().__init__(User, db.session, **kwargs)

    # --- list ------------------------------------------------------------------------------------------------------

    def get_list(self, *args, **kwargs):
        count, users = super().get_list(*args, **kwargs)
        # One query per connection table for the whole page, instead of two per row.
        g.admin_connection_states = admin_service.connection_states(u.id for u in users)
        return count, users

    def _connection(self, user: User, kind: str) -> str:
        state = g.get("admin_connection_states", {}).get(user.id, {}).get(kind, ConnectionState.NOT_CONNECTED)
        return str(CONNECTION_LABELS.get(state, state))

    def _email_link(self, view, context, model: User, name) -> Markup:
        return Markup('<a href="{}">{}</a>').format(self.get_url(".detail", user_id=model.id), model.email)

    @staticmethod
    def _status_badge(view, context, model: User, name) -> Markup:
        status = UserStatus(model.status)
        return Markup('<span class="badge badge-{}">{}</span>').format(STATUS_BADGES[status], STATUS_LABELS[status])

    def is_action_allowed(self, name: str) -> bool:
        return self.can_manage() and super().is_action_allowed(name)

    @staticmethod
    def can_manage() -> bool:
        return staff_can("users.manage")

    # --- bulk actions (Flask-Admin's action form posts the selected ids) ----------------------------------------------

    @action("activate", _l("Activate"))
    def bulk_activate(self, ids):
        return self._bulk(ids, UserAction.ACTIVATE)

    @action("suspend", _l("Suspend"), _l("Suspend the selected users? They will not be able to log in."))
    def bulk_suspend(self, ids):
        return self._bulk(ids, UserAction.SUSPEND)

    @action("reset_password", _l("Email a password reset link"))
    def bulk_reset_password(self, ids):
        return self._bulk(ids, UserAction.RESET_PASSWORD)

    @action("send_invite", _l("Send the invitation again"))
    def bulk_send_invite(self, ids):
        return self._bulk(ids, UserAction.SEND_INVITE)

    # Not "delete": Flask-Admin reserves that name for its own delete, which is switched off here.
    @action("delete_users", _l("Delete…"))
    def bulk_delete(self, ids):
        # Deleting is never one click away: show the confirmation page with the chosen users.
        return redirect(self.get_url(".bulk_delete_view", ids=",".join(str(i) for i in _int_ids(ids))))

    def _bulk(self, ids, user_action: UserAction):
        require("users.manage")
        done, refused = admin_service.run_bulk(current_user, _int_ids(ids), user_action)
        _flash_bulk(done, refused)
        return redirect(safe_next(request.form.get("url"), self.get_url(".index_view")))

    # --- one user ----------------------------------------------------------------------------------------------------

    @expose("/<int:user_id>/")
    def detail(self, user_id: int):
        user = _get_user(user_id)
        return self.render(
            "admin/evosync_user_detail.html",
            user=user,
            overview=admin_service.user_overview(user),
            status_labels=STATUS_LABELS,
            status_badges=STATUS_BADGES,
            connection_labels=CONNECTION_LABELS,
            can_manage=self.can_manage(),
            simple_actions=SIMPLE_ACTIONS,
        )

    @expose("/<int:user_id>/edit", methods=["GET", "POST"])
    def edit(self, user_id: int):
        require("users.manage")
        user = _get_user(user_id)
        form = UserEditForm(obj=user)
        form.roles.choices = [(r, r) for r in db.session.scalars(db.select(Role.name).order_by(Role.name))]
        if form.validate_on_submit():
            try:
                admin_service.edit(
                    current_user,
                    user,
                    name=form.name.data or "",
                    email=form.email.data,
                    phone=form.phone.data or "",
                    roles=form.roles.data or [],
                    status=form.status.data,
                )
            except FieldError as exc:
                db.session.rollback()
                getattr(form, exc.field).errors.append(str(exc))
            except AccountError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                return redirect(self.get_url(".detail", user_id=user_id))
            else:
                flash(_("Changes to %(email)s are saved.", email=user.email), "success")
                return redirect(self.get_url(".detail", user_id=user_id))
        return self.render("admin/evosync_user_edit.html", user=user, form=form)

    @expose("/<int:user_id>/delete", methods=["GET", "POST"])
    def delete(self, user_id: int):
        require("users.manage")
        user = _get_user(user_id)
        if request.method == "POST" and request.form.get("confirm") == "yes":
            email = user.email
            try:
                admin_service.delete(current_user, user, remove_vk_items=bool(request.form.get("remove_vk_items")))
            except AccountError as exc:
                db.session.rollback()
                flash(str(exc), "danger")
                return redirect(self.get_url(".detail", user_id=user_id))
            if request.form.get("remove_vk_items"):
                flash(
                    _(
                        "%(email)s is suspended; their VK items are being removed, then the account and all its "
                        "data are deleted. Watch the job in Queues.",
                        email=email,
                    ),
                    "info",
                )
            else:
                flash(_("%(email)s and all their data are deleted.", email=email), "success")
            return redirect(self.get_url(".index_view"))
        return self.render("admin/evosync_user_delete.html", users=[user], single=True)

    @expose("/<int:user_id>/<action_name>", methods=["POST"])
    def user_action(self, user_id: int, action_name: str):
        require("users.manage")
        try:
            user_action = UserAction(action_name)
        except ValueError:
            raise NotFound() from None
        if user_action not in SIMPLE_ACTIONS:
            raise NotFound()
        user = _get_user(user_id)
        email = user.email
        try:
            admin_service.run_action(current_user, user, user_action)
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(DONE_MESSAGES[user_action] % {"email": email}, "success")
        return redirect(safe_next(request.form.get("next"), self.get_url(".detail", user_id=user_id)))

    # --- many users ---------------------------------------------------------------------------------------------------

    @expose("/invite", methods=["GET", "POST"])
    def invite(self):
        require("users.manage")
        form = InviteForm()
        if form.validate_on_submit():
            try:
                user = admin_service.invite(current_user, form.email.data)
            except AccountError as exc:
                db.session.rollback()
                form.email.errors.append(str(exc))
            else:
                flash(DONE_MESSAGES[UserAction.SEND_INVITE] % {"email": user.email}, "success")
                return redirect(self.get_url(".detail", user_id=user.id))
        return self.render(
            "admin/evosync_user_invite.html",
            form=form,
            expire_hours=current_app.config["INVITE_EXPIRE_HOURS"],
        )

    @expose("/bulk-delete", methods=["GET", "POST"])
    def bulk_delete_view(self):
        require("users.manage")
        source = request.form if request.method == "POST" else request.args
        ids = _int_ids(source.get("ids", "").split(","))
        users = [u for u in (db.session.get(User, i) for i in ids) if u is not None]
        if not users:
            flash(_("No users were selected."), "warning")
            return redirect(self.get_url(".index_view"))
        if request.method == "POST" and request.form.get("confirm") == "yes":
            done, refused = admin_service.run_bulk(current_user, [u.id for u in users], UserAction.DELETE)
            _flash_bulk(done, refused)
            return redirect(self.get_url(".index_view"))
        return self.render("admin/evosync_user_delete.html", users=users, single=False, ids=",".join(map(str, ids)))


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


def _int_ids(values) -> list[int]:
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


def _flash_bulk(done: list[str], refused: list[str]) -> None:
    if done:
        flash(
            ngettext(
                "Done for %(num)d user: %(emails)s.",
                "Done for %(num)d users: %(emails)s.",
                len(done),
                emails=", ".join(done),
            ),
            "success",
        )
    for reason in refused:
        flash(reason, "danger")
    if not done and not refused:
        flash(_("No users were selected."), "warning")
