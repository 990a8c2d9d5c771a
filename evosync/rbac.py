"""The default roles and their permissions, as data: seeded by a migration, read by tests and the admin."""

MERCHANT_PERMISSIONS = {
    "catalog.view": "See the Evotor and VK catalogs",
    "catalog.manage": "Choose stores and groups to publish, refresh catalogs",
    "connections.manage": "Connect and disconnect Evotor and VK",
    "sync.run": "Start a sync and confirm removals",
    "sync.settings": "Change sync settings",
}
ADMIN_PERMISSIONS = {
    "admin.access": "Open the admin panel",
    "users.manage": "Activate, suspend, invite, edit and delete users",
    "audit.view": "Read the audit log",
    "rq.access": "Watch and re-queue jobs in rq-dashboard",
}
SYSTEM_PERMISSIONS = {
    "roles.manage": "Change which permissions each role has",
}
ALL_PERMISSIONS = {**MERCHANT_PERMISSIONS, **ADMIN_PERMISSIONS, **SYSTEM_PERMISSIONS}

DEFAULT_ROLES = {
    "system": ("Runs the service: everything, including roles", sorted(ALL_PERMISSIONS)),
    "admin": ("Manages users", sorted({**MERCHANT_PERMISSIONS, **ADMIN_PERMISSIONS})),
    "user": ("A merchant", sorted(MERCHANT_PERMISSIONS)),
}
