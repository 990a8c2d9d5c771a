"""Blueprints, one per area; create_app() registers them in this order."""

from .auth_extra import bp as auth_extra_bp
from .catalog import bp as catalog_bp
from .connections import bp as connections_bp
from .docs import bp as docs_bp
from .events import bp as evotor_events_bp
from .health import bp as health_bp
from .orders import bp as orders_bp
from .profile import bp as profile_bp
from .sync import bp as sync_bp
from .vk_callback import bp as vk_callback_bp
from .vk_catalog import bp as vk_catalog_bp
from .vkid import bp as vkid_bp
from .webhooks import bp as evotor_webhooks_bp

BLUEPRINTS = [health_bp, vk_catalog_bp]
BLUEPRINTS += [connections_bp, evotor_webhooks_bp, docs_bp]
BLUEPRINTS += [auth_extra_bp, profile_bp]
BLUEPRINTS += [catalog_bp]
BLUEPRINTS += [sync_bp]
BLUEPRINTS += [evotor_events_bp]
BLUEPRINTS += [vkid_bp]
BLUEPRINTS += [orders_bp, vk_callback_bp]
