"""EvoSync: mirror an Evotor POS catalog into a VK community market. create_app() builds the Flask app."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from pathlib import Path

from flask import Flask, g, request

from .config import ConfigError, engine_options, env_str, load_config, load_env_file
from .crypto import secret_box
from .extensions import babel, bootstrap, csrf, db, mail, migrate
from .i18n import init_translations, select_locale
from .logging_setup import configure_logging
from .redis_conn import init_redis
from .security_headers import init_security_headers
from .version import __version__

log = logging.getLogger("evosync.request")


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app: config, extensions, blueprints, admin, CLI — in this order."""
    load_env_file(env_str("EVOSYNC_DOTENV", ".env"))
    # State (compiled translations, a SQLite file) lives outside the code tree when EVOSYNC_INSTANCE_PATH says
    # where: the image sets it to the app user's home, since the code there is root's and read-only.
    instance_path = env_str("EVOSYNC_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=False, instance_path=instance_path or None)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(load_config(app.instance_path))
    if overrides:
        app.config.update(overrides)
        if "SQLALCHEMY_DATABASE_URI" in overrides and "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
            # the engine options belong to the database actually used, not to the one DATABASE_URL named
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    app.config["VERSION"] = __version__
    configure_logging(app.config["LOG_LEVEL"])
    if not app.config["ENCRYPTION_KEY"]:  # development only: production refuses to start without it
        logging.getLogger("evosync").warning("ENCRYPTION_KEY is unset: secrets use a key derived from SECRET_KEY")
    if app.config["PRODUCTION"] and not app.config["SESSION_COOKIE_SECURE"]:
        logging.getLogger("evosync").warning(
            "BASE_URL is plain http: login cookies are sent without the Secure flag (fine for a LAN trial; "
            "put TLS in front and set an https BASE_URL for production)"
        )
    secret_box.configure(app.config["ENCRYPTION_KEY"], app.config["SECRET_KEY"])

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    mail.init_app(app)
    init_translations(app)  # compiles .po -> .mo into the instance folder; before Babel and Security read it
    babel.init_app(app, locale_selector=select_locale)
    bootstrap.init_app(app)
    init_redis(app)

    # The web side is imported here, when an app is built, not at the top: every `import evosync.<module>` (a job in
    # a worker, the sandbox, a bench) runs this package's __init__ and must not load the views and the admin panel.
    from .admin import init_admin
    from .auth import init_security
    from .cli import register_cli
    from .web import BLUEPRINTS, page_cache
    from .web.common import init_common

    init_security(app)
    init_common(app)
    page_cache.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    init_admin(app)
    init_security_headers(app)  # after every view is registered: per-page CSP exceptions
    _register_request_logging(app)
    register_cli(app)
    return app


def create_app_or_exit() -> Flask:
    """create_app() for the process entry points (gunicorn's wsgi, the worker, the scheduler): a configuration
    error is one line on stderr naming the setting, and exit status 78 (EX_CONFIG), not a traceback."""
    try:
        return create_app()
    except ConfigError as exc:
        sys.stderr.write(f"EvoSync cannot start: {exc}\n")
        raise SystemExit(78) from None


def _register_request_logging(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming[:64] if incoming.replace("-", "").isalnum() else uuid.uuid4().hex

    @app.after_request
    def log_request(response):
        started = g.get("request_started")
        duration_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if not request.path.startswith("/static"):
            log.info(
                "request",
                extra={
                    "request_id": g.get("request_id"),
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                },
            )
        return response
