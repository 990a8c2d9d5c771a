"""Blueprints, one per area; create_app() registers them in this order."""

from .auth_extra import bp as auth_extra_bp
from .catalog import bp as catalog_bp
from .connections import bp as connections_bp
from .docs import bp as docs_bp
from .evotor_catalog_webhook import bp as evotor_catalog_webhook_bp
from .evotor_partner_webhooks import bp as evotor_partner_webhooks_bp
from .health import bp as health_bp
from .orders import bp as orders_bp
from .profile import bp as profile_bp
from .sync import bp as sync_bp
from .vk_callback import bp as vk_callback_bp
from .vk_catalog import bp as vk_catalog_bp
from .vkid import bp as vkid_bp

BLUEPRINTS = [
    health_bp,
    vk_catalog_bp,
    connections_bp,
    evotor_partner_webhooks_bp,
    docs_bp,
    auth_extra_bp,
    profile_bp,
    catalog_bp,
    sync_bp,
    evotor_catalog_webhook_bp,
    vkid_bp,
    orders_bp,
    vk_callback_bp,
]
