"""The app factory, configuration rules, error pages and the schema's migration chain."""

import pytest
from flask_migrate import check

from evosync import create_app
from evosync.config import ConfigError, load_config, normalise_database_url
from evosync.models import Role, User
from tests.factories import login, make_user


def test_production_refuses_default_secret_key(monkeypatch, tmp_path):
    """In production mode the app refuses to start with the default SECRET_KEY, and says why in one line."""
    monkeypatch.setenv("EVOSYNC_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config(str(tmp_path))


def test_bad_number_setting_is_named(monkeypatch, tmp_path):
    """A malformed setting fails loudly with its name."""
    monkeypatch.setenv("INVITE_EXPIRE_HOURS", "two days")
    with pytest.raises(ConfigError, match="INVITE_EXPIRE_HOURS"):
        load_config(str(tmp_path))


def test_defaults(monkeypatch, tmp_path):
    """Defaults are those of the README table."""
    for name in (
        "DATABASE_URL",
        "EVOTOR_API_URL",
        "VK_API_URL",
        "VK_API_VERSION",
        "BASE_URL",
        "CATALOG_REFRESH_INTERVAL_SECONDS",
        "INVITE_EXPIRE_HOURS",
    ):
        monkeypatch.delenv(name, raising=False)
    cfg = load_config(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/evosync.db"
    assert cfg["EVOTOR_API_URL"] == "https://api.evotor.ru"
    assert cfg["VK_API_URL"] == "https://api.vk.com/method"
    assert cfg["VK_API_VERSION"] == "5.199"
    assert cfg["BASE_URL"] == "http://localhost:8000"
    assert cfg["CATALOG_REFRESH_INTERVAL_SECONDS"] == 3600
    assert cfg["INVITE_EXPIRE_HOURS"] == 48
    from PIL import Image

    with Image.open(cfg["VK_DEFAULT_PHOTO_PATH"]) as img:
        assert min(img.size) >= 400


def test_mariadb_urls_get_utf8mb4():
    """MariaDB URLs always go through PyMySQL with utf8mb4."""
    assert normalise_database_url("mysql://u:p@h/db") == "mysql+pymysql://u:p@h/db?charset=utf8mb4"
    assert normalise_database_url("mysql+pymysql://u:p@h/db?x=1") == "mysql+pymysql://u:p@h/db?x=1&charset=utf8mb4"


def test_no_drift_between_models_and_migrations(app):
    """`flask db check` finds nothing to migrate: the migration chain builds exactly the models."""
    check(directory="migrations")


def test_default_roles_and_permissions_seeded(app):
    """The migration seeds system/admin/user with their permissions."""
    roles = {r.name: r for r in Role.query.all()}
    assert set(roles) == {"system", "admin", "user"}
    assert "roles.manage" in roles["system"].get_permissions()
    assert "roles.manage" not in roles["admin"].get_permissions()
    assert "admin.access" not in roles["user"].get_permissions()


def test_cascade_delete_removes_owned_rows(app):
    """Deleting a user removes their rows through foreign-key cascades, and nobody else's."""
    from evosync.extensions import db
    from evosync.models import CachedStore

    a, b = make_user(), make_user()
    db.session.add_all(
        [CachedStore(user_id=a.id, evotor_id="S1", name="A"), CachedStore(user_id=b.id, evotor_id="S1", name="B")]
    )
    db.session.commit()
    db.session.delete(db.session.get(User, a.id))
    db.session.commit()
    assert [s.name for s in CachedStore.query.all()] == ["B"]


def test_unknown_page_is_friendly(client):
    """A missing page renders the friendly 404 page, never a traceback."""
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    assert b"<html" in resp.data and b"Traceback" not in resp.data


def test_index_redirects(app, client):
    """/ sends anonymous visitors to the login page."""
    resp = client.get("/")
    assert resp.status_code == 302 and resp.location.endswith("/login")
    user = make_user()
    assert login(client, user.email).status_code == 302


def test_tokens_are_encrypted_at_rest(app):
    """A token stored on a connection is not in the database in clear text."""
    import sqlalchemy as sa

    from evosync.extensions import db
    from evosync.models import VkConnection

    user = make_user()
    db.session.add(VkConnection(user_id=user.id, access_token="vk1.a.SECRET-TOKEN-VALUE"))
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT access_token FROM vk_connections")).scalar_one()
    assert "SECRET-TOKEN-VALUE" not in raw
    db.session.expire_all()
    assert VkConnection.query.one().access_token == "vk1.a.SECRET-TOKEN-VALUE"


def test_create_app_twice_is_independent(app):
    """create_app() can be called again (tests, workers) without sharing state."""
    other = create_app(dict(app.config))
    assert other is not app


def test_engine_options_follow_the_database_actually_used(monkeypatch, tmp_path):
    """DATABASE_URL names MariaDB but an override points at SQLite: no MariaDB-only engine option leaks in."""
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://u:p@127.0.0.1:1/x")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db", "TESTING": True})
    assert "isolation_level" not in app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    monkeypatch.delenv("DATABASE_URL")
    mariadb = create_app({"SQLALCHEMY_DATABASE_URI": "mysql+pymysql://u:p@127.0.0.1:1/x", "TESTING": True})
    assert mariadb.config["SQLALCHEMY_ENGINE_OPTIONS"]["isolation_level"] == "READ COMMITTED"
