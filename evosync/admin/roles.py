"""Roles and permissions: the role x permission matrix, one form per role (POST /admin/roles/<id>/permissions)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect
from flask import request as flask_request
from flask_admin import BaseView, expose
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import NotFound

from ..extensions import db
from ..models import Permission, Role, RoleName
from ..services import admin as admin_service
from ..services.accounts import AccountError
from .access import StaffOnlyMixin, require, staff_can

# Rows of the matrix, in reading order: merchant work first, then the panel.
ROLE_ORDER = {RoleName.SYSTEM: 0, RoleName.ADMIN: 1, RoleName.USER: 2}


class RolesView(StaffOnlyMixin, BaseView):
    """Admins read the matrix; saving it takes roles.manage (the system role by default)."""

    @expose("/")
    def index(self):
        roles = sorted(db.session.scalars(sa.select(Role)), key=lambda r: (ROLE_ORDER.get(r.name, 9), r.name))
        permissions = list(db.session.scalars(sa.select(Permission).order_by(Permission.name)))
        return self.render(
            "admin/evosync_roles.html",
            roles=roles,
            permissions=permissions,
            granted={role.id: role.get_permissions() for role in roles},
            staff_permissions=admin_service.STAFF_PERMISSIONS,
            staff_roles=admin_service.STAFF_ROLES,
            can_save=staff_can("roles.manage"),
        )

    @expose("/<int:role_id>/permissions", methods=["POST"])
    def save_permissions(self, role_id: int):
        require("roles.manage")
        role = db.session.get(Role, role_id)
        if role is None:
            raise NotFound()
        try:
            admin_service.set_role_permissions(current_user, role, flask_request.form.getlist("permissions"))
        except AccountError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            flash(_("Permissions of the role %(role)s are saved.", role=role.name), "success")
        return redirect(self.get_url(".index"))
