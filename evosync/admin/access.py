"""Who may open the admin panel: the admin and system roles, each page further gated by a permission."""

from __future__ import annotations

from flask import Flask, abort, request
from flask_login import current_user

from ..extensions import security

# The prefix every panel URL lives under, Flask-Admin's static files and rq-dashboard included.
ADMIN_PREFIX = "/admin"
RQ_PREFIX = "/admin/rq"


def staff_can(permission: str = "admin.access") -> bool:
    """True for a logged-in admin or system user whose roles grant the permission (read from the RBAC tables)."""
    if not current_user.is_authenticated or not current_user.is_admin:
        return False
    return current_user.has_permission("admin.access") and current_user.has_permission(permission)


def deny():
    """Anonymous visitors go to the login page (and come back after); everyone else gets 403."""
    if not current_user.is_authenticated:
        return security.login_manager.unauthorized()
    abort(403)


def require(permission: str = "admin.access") -> None:
    """For view code: stop here unless the current user has the permission."""
    if not staff_can(permission):
        response = deny()
        abort(response)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def install_path_guard(app: Flask) -> None:
    """One check in front of every /admin URL, so nothing there is open by default.

    Flask-Admin (its index and static files too) and rq-dashboard check nothing themselves; the views also
    check, but this guard is what makes a view someone forgets to protect safe anyway.
    """

    @app.before_request
    def guard_admin_paths():
        path = request.path
        if not _under(path, ADMIN_PREFIX):
            return None
        permission = "rq.access" if _under(path, RQ_PREFIX) else "admin.access"
        if not staff_can(permission):
            return deny()
        return None


class StaffOnlyMixin:
    """For Flask-Admin views: accessible with `permission` (and admin.access); otherwise login or 403."""

    permission = "admin.access"

    def is_accessible(self) -> bool:
        return staff_can(self.permission)

    def inaccessible_callback(self, name, **kwargs):
        return deny()


# Flask-Admin routes every ModelView gets; ours never create, edit, delete or export through them.
UNUSED_MODEL_ROUTES = frozenset({"create_view", "edit_view", "delete_view", "export", "ajax_update", "ajax_lookup"})


class NoUnusedRoutesMixin:
    """Register only the routes a view uses: a switched-off screen that does not exist cannot be misused,
    and each app (one per test) compiles a third of the URL rules."""

    def create_blueprint(self, admin):
        unused = set(UNUSED_MODEL_ROUTES)
        if not self.can_view_details:
            unused.add("details_view")
        self._urls = [route for route in type(self)._urls if route[1] not in unused]
        return super().create_blueprint(admin)

    def scaffold_form(self):
        # No create/edit screens, so no form converted from the model's columns (slow, and never shown).
        return type(f"{self.model.__name__}NoForm", (self.form_base_class,), {})
