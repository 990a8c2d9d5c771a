"""Flask-Security's user datastore over our User and Role models (the auth wiring and the account services use it)."""

from __future__ import annotations

from flask_security import SQLAlchemyUserDatastore
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from .accounts import Role, User


class EvoSyncUserDatastore(SQLAlchemyUserDatastore):
    """Flask-Security's datastore; a user is loaded with its roles and their permission names in one query, one
    row per role (Role.permission_names)."""

    def find_user(self, case_insensitive: bool = False, **kwargs):
        (attr, value), *rest = kwargs.items()
        if rest or case_insensitive:  # Flask-Security's own lookups by e-mail and the like: its way
            return super().find_user(case_insensitive=case_insensitive, **kwargs)
        # Every request of a logged-in merchant comes here (by fs_uniquifier): one query instead of three.
        statement = (
            select(User)
            .options(joinedload(User.roles).lazyload(Role.permission_rows))
            .where(getattr(User, attr) == value)
        )
        return self.db.session.execute(statement).unique().scalars().first()  # as Flask-Security: the first


user_datastore = EvoSyncUserDatastore(db, User, Role)
