"""Blueprints, one per area; create_app() registers them in this order."""

from .catalog import bp as catalog_bp
from .health import bp as health_bp
from .vk_catalog import bp as vk_catalog_bp

BLUEPRINTS = [health_bp, vk_catalog_bp]
