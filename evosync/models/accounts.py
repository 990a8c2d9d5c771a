"""Users, roles and permissions (RBAC), invites and the admin audit log."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_security import RoleMixin, UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import MYSQL_TABLE_ARGS, TimestampMixin, utcnow


class UserStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    SUSPENDED = "suspended"


class RoleName(enum.StrEnum):
    SYSTEM = "system"
    ADMIN = "admin"
    USER = "user"


user_roles = sa.Table(
    "user_roles",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    **MYSQL_TABLE_ARGS,
)

role_permissions = sa.Table(
    "role_permissions",
    db.metadata,
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("permission_id", sa.ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True),
    **MYSQL_TABLE_ARGS,
)


class Permission(db.Model):
    __tablename__ = "permissions"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)

    def __str__(self) -> str:
        return self.name


class Role(db.Model, RoleMixin):
    __tablename__ = "roles"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    update_datetime: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, onupdate=utcnow)
    permission_rows: Mapped[list[Permission]] = relationship(secondary=role_permissions, lazy="selectin")

    def get_permissions(self) -> set[str]:
        """Flask-Security asks roles for permission names; ours live in the permissions table. Read with the role
        itself (``permission_names``, one row per role however many permissions), or from ``permission_rows``
        when that collection is loaded (it may hold changes this session has not committed yet)."""
        if "permission_rows" in self.__dict__:
            return {p.name for p in self.permission_rows}
        return set(self.permission_names.split(",")) if self.permission_names else set()

    def __str__(self) -> str:
        return self.name


# The role's permission names, computed by the database in the query that loads the role (a correlated
# GROUP_CONCAT): a logged-in request loads user, roles and permissions as one row instead of one per permission.
Role.permission_names = sa.orm.column_property(
    sa.select(sa.func.group_concat(Permission.name))
    .select_from(role_permissions.join(Permission, Permission.id == role_permissions.c.permission_id))
    .where(role_permissions.c.role_id == Role.id)
    .correlate_except(role_permissions, Permission)
    .scalar_subquery()
)


class User(db.Model, UserMixin, TimestampMixin):
    __tablename__ = "users"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), unique=True, nullable=False)
    password: Mapped[str | None] = mapped_column(sa.String(255))
    fs_uniquifier: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(sa.String(120), default="", nullable=False)
    phone: Mapped[str] = mapped_column(sa.String(32), default="", nullable=False)
    # The merchant asked for SMS alerts (incidents) at ``phone``; no SMS is sent without both.
    sms_alerts: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false(), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), default=UserStatus.PENDING, nullable=False, index=True)
    locale: Mapped[str] = mapped_column(sa.String(8), default="", nullable=False)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    pending_email: Mapped[str | None] = mapped_column(sa.String(255))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    current_login_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)
    last_login_ip: Mapped[str | None] = mapped_column(sa.String(64))
    current_login_ip: Mapped[str | None] = mapped_column(sa.String(64))
    login_count: Mapped[int | None] = mapped_column(sa.Integer)
    failed_login_count: Mapped[int] = mapped_column(sa.Integer, default=0, nullable=False)
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)

    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    # Flask-Security reads and writes `active`; our status is the single source of truth.
    @property
    def active(self) -> bool:
        return self.status != UserStatus.SUSPENDED

    @active.setter
    def active(self, value: bool) -> None:
        if not value:
            self.status = UserStatus.SUSPENDED
        elif self.status == UserStatus.SUSPENDED:
            self.status = UserStatus.ACTIVE if self.confirmed_at else UserStatus.PENDING

    @property
    def role_names(self) -> set[str]:
        return {r.name for r in self.roles}

    @property
    def is_admin(self) -> bool:
        return bool(self.role_names & {RoleName.ADMIN, RoleName.SYSTEM})

    @property
    def is_system(self) -> bool:
        return RoleName.SYSTEM in self.role_names

    def __str__(self) -> str:
        return self.email


class Invite(db.Model):
    """An admin's invitation: single use, expires after INVITE_EXPIRE_HOURS; only a hash of the token is kept."""

    __tablename__ = "invites"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(255), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    invited_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime)


class AuditLog(db.Model):
    """Who did what to whom, and when: every admin action."""

    __tablename__ = "audit_log"
    __table_args__ = MYSQL_TABLE_ARGS

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    action: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    target_user_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    target_email: Mapped[str] = mapped_column(sa.String(255), default="", nullable=False)
    details: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow, nullable=False, index=True)
