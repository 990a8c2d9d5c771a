"""Blueprints, one per area; create_app() registers them in this order."""

from .health import bp as health_bp

BLUEPRINTS = [health_bp]
