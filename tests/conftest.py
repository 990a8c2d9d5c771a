"""Shared fixtures: the app on a real database (SQLite or MariaDB), a real Redis, clients, and the sandbox."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from flask import g, request_started
from flask_migrate import upgrade

from evosync import create_app
from evosync.config import engine_options
from evosync.extensions import db
from tests.services import RedisServer, test_database_url

pytest_plugins = ["tests.sandbox_fixtures"]

# Seeded by the migration; kept between tests.
SEED_TABLES = {"roles", "permissions", "role_permissions", "alembic_version"}


@pytest.fixture(scope="session")
def redis_url():
    server = RedisServer()
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="session")
def _database(tmp_path_factory, redis_url):
    """Build the schema once per run through the real migration chain."""
    url = test_database_url(tmp_path_factory.mktemp("db"))
    app = create_app(_test_overrides(url, redis_url))
    with app.app_context():
        _drop_everything()
        upgrade(directory=os.path.join(os.path.dirname(__file__), "..", "migrations"))
    yield url
    with app.app_context():
        db.engine.dispose()


def _drop_everything() -> None:
    """A MariaDB database may hold a previous run's tables: start from empty."""
    inspector = sa.inspect(db.engine)
    names = inspector.get_table_names()
    if not names:
        return
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "mysql":
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for name in names:
            conn.execute(
                sa.text(
                    f"DROP TABLE IF EXISTS `{name}`"
                    if db.engine.dialect.name == "mysql"
                    else f'DROP TABLE IF EXISTS "{name}"'
                )
            )
        if db.engine.dialect.name == "mysql":
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))


def _test_overrides(database_url: str, redis_url: str) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url) if database_url.startswith("mysql") else {},
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": False,
        "SECURITY_PASSWORD_HASH": "plaintext" if os.environ.get("EVOSYNC_FAST_HASH") else "argon2",
        # Flask-Security slow-hashes data inside confirm/reset tokens (sha256_crypt, ~1 s): a fast scheme here.
        "SECURITY_HASHING_SCHEMES": ["hex_md5"],
        "SECURITY_DEPRECATED_HASHING_SCHEMES": [],
        # Real argon2, cheap parameters: the suite hashes hundreds of passwords.
        "SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS": {
            "argon2__rounds": 1,
            "argon2__memory_cost": 1024,
            "argon2__parallelism": 1,
        },
        "MAIL_BACKEND": "locmem",
        "RUN_JOBS_INLINE": True,
        "SERVER_NAME": None,
        "VK_FLOOD_PAUSE_SECONDS": 0.05,  # VK's flood pause, shortened: tests inject error 9 often
        # The sandbox's Evotor has no rate of its own unless a test gives it one (tests/sync_engine/
        # test_image_lookup.py sets both sides): the default 20/s would only slow every image look-up down.
        "EVOTOR_RATE_LIMIT_PER_SECOND": 1000,
        # Assertions read the English msgids; a browser sending no Accept-Language gets Russian in production.
        # Tests of the Russian UI (tests/i18n, tests/e2e) ask for it explicitly.
        "BABEL_DEFAULT_LOCALE": "en",
    }


@pytest.fixture
def app(_database, redis_url):
    """A fresh app per test over the shared schema; rows and Redis keys from earlier tests are gone."""
    app = create_app(_test_overrides(_database, redis_url))
    # Requests reuse the test's app context, and with it flask-login's cached user in `g`: forget it at every
    # request so that two test clients logged in as two users stay two users.
    request_started.connect(_forget_cached_user, app)
    with app.app_context():
        _clean_tables()
        from evosync.redis_conn import get_redis

        get_redis(app).flushdb()
        yield app
        db.session.remove()
        db.engine.dispose()


def _forget_cached_user(sender, **extra) -> None:
    for name in ("_login_user", "fs_authn_via", "fs_paa"):  # Flask-Login's and Flask-Security's per-request state
        g.pop(name, None)


def _clean_tables() -> None:
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "mysql":
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in SEED_TABLES:
                conn.execute(table.delete())
        if db.engine.dialect.name == "mysql":
            conn.execute(sa.text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture
def _push_request_context():
    """pytest-flask pushes a request context for every test, which pins current_user to anonymous
    across client calls; our tests log in through the client, so we do not want it."""
    yield


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
