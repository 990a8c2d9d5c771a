"""All models, importable from one place (Alembic and Flask-Admin need them registered)."""

from .accounts import AuditLog, Invite, Permission, Role, RoleName, User, UserStatus, role_permissions, user_roles
from .base import utcnow
from .connections import ConnectionState, EvotorConnection, VkConnection
from .evotor import CachedGroup, CachedProduct, CachedStore, WebhookEvent
from .incidents import Incident, IncidentClose
from .orders import VkOrder, VkOrderEvent, VkOrderItem, VkOrderSettings
from .sync import LinkStatus, RunStatus, SyncAlbum, SyncConfig, SyncFilter, SyncLink, SyncRun
from .vk import VkCachedAlbum, VkCachedProduct, VkCachedProperty

__all__ = [
    "AuditLog",
    "CachedGroup",
    "CachedProduct",
    "CachedStore",
    "ConnectionState",
    "EvotorConnection",
    "Incident",
    "IncidentClose",
    "Invite",
    "LinkStatus",
    "Permission",
    "Role",
    "RoleName",
    "RunStatus",
    "SyncAlbum",
    "SyncConfig",
    "SyncFilter",
    "SyncLink",
    "SyncRun",
    "User",
    "UserStatus",
    "VkCachedAlbum",
    "VkCachedProduct",
    "VkCachedProperty",
    "VkConnection",
    "VkOrder",
    "VkOrderEvent",
    "VkOrderItem",
    "VkOrderSettings",
    "WebhookEvent",
    "role_permissions",
    "user_roles",
    "utcnow",
]
