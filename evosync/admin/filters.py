"""List filters Flask-Admin cannot scaffold: a user's role, whether they are connected, and rows by owner email."""

from __future__ import annotations

import sqlalchemy as sa
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual
from flask_babel import lazy_gettext as _l

from ..models import ConnectionState, EvotorConnection, Role, User, VkConnection
from ..rbac import DEFAULT_ROLES

YES_NO = [("1", _l("yes")), ("0", _l("no"))]


def _role_options() -> list[tuple[str, str]]:
    # Flask-Admin reads filter options when the view is built, outside any app context: the roles are fixed data.
    return [(name, name) for name in DEFAULT_ROLES]


class RoleFilter(BaseSQLAFilter):
    """Users holding a role."""

    def __init__(self, name=_l("Role")) -> None:
        super().__init__(User.id, name, options=_role_options)

    def apply(self, query, value, alias=None):
        return query.filter(User.roles.any(Role.name == value))

    def operation(self):
        return _l("is")


class ConnectedFilter(BaseSQLAFilter):
    """Users whose Evotor (or VK) connection is, or is not, in the connected state."""

    def __init__(self, connection_model: type, name) -> None:
        super().__init__(User.id, name, options=YES_NO)
        self.connection_model = connection_model

    def apply(self, query, value, alias=None):
        connected = sa.select(self.connection_model.user_id).where(
            self.connection_model.state == ConnectionState.CONNECTED
        )
        if value == "1":
            return query.filter(User.id.in_(connected))
        return query.filter(User.id.not_in(connected))

    def operation(self):
        return _l("is")


def evotor_connected_filter() -> ConnectedFilter:
    return ConnectedFilter(EvotorConnection, _l("Evotor connected"))


def vk_connected_filter() -> ConnectedFilter:
    return ConnectedFilter(VkConnection, _l("VK connected"))


class OwnerEmailFilter(BaseSQLAFilter):
    """Rows of a merchant-owned table whose user's email contains the text (no relationship needed)."""

    def __init__(self, user_id_column, name=_l("User email")) -> None:
        super().__init__(user_id_column, name)

    def apply(self, query, value, alias=None):
        owners = sa.select(User.id).where(User.email.ilike(f"%{value.strip()}%"))
        return query.filter(self.get_column(alias).in_(owners))

    def operation(self):
        return _l("contains")


def owner_filters(model: type) -> list[BaseSQLAFilter]:
    """The two ways to narrow a merchant table to one user: by email, or by user id (so flt0_1=<id>)."""
    return [OwnerEmailFilter(model.user_id), FilterEqual(model.user_id, _l("User id"))]


def choice_filter(column, name, choices) -> FilterEqual:
    """Equality on a column with a fixed list of values (statuses)."""
    return FilterEqual(column, name, options=[(str(c), str(c)) for c in choices])
