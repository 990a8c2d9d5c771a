"""The default roles and their permissions, as data: seeded by a migration, read by tests and the admin."""


def N_(text: str) -> str:
    """Marks a description for the translation catalog; it is stored as is and translated where a page shows it."""
    return text


MERCHANT_PERMISSIONS = {
    "catalog.view": N_("See the Evotor and VK catalogs"),
    "catalog.manage": N_("Choose stores and groups to publish, refresh catalogs"),
    "connections.manage": N_("Connect and disconnect Evotor and VK"),
    "sync.run": N_("Start a sync and confirm removals"),
    "sync.settings": N_("Change sync settings"),
}
ADMIN_PERMISSIONS = {
    "admin.access": N_("Open the admin panel"),
    "users.manage": N_("Activate, suspend, invite, edit and delete users"),
    "audit.view": N_("Read the audit log"),
    "rq.access": N_("Watch and re-queue jobs in rq-dashboard"),
}
SYSTEM_PERMISSIONS = {
    "roles.manage": N_("Change which permissions each role has"),
}
ALL_PERMISSIONS = {**MERCHANT_PERMISSIONS, **ADMIN_PERMISSIONS, **SYSTEM_PERMISSIONS}

DEFAULT_ROLES = {
    "system": ("Runs the service: everything, including roles", sorted(ALL_PERMISSIONS)),
    "admin": ("Manages users", sorted({**MERCHANT_PERMISSIONS, **ADMIN_PERMISSIONS})),
    "user": ("A merchant", sorted(MERCHANT_PERMISSIONS)),
}
