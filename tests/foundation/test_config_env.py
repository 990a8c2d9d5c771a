"""Configuration as an operator meets it: empty means unset, .env.example as shipped, production's secret rules."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import pytest

from evosync.config import ConfigError, load_config, load_env_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"
EXAMPLE_NAMES = re.findall(r"^([A-Z_]+)=", EXAMPLE.read_text(encoding="utf-8"), re.M)
make_env = runpy.run_path(str(ROOT / "deploy" / "make_env.py"))


@pytest.fixture
def clean_env(monkeypatch):
    """No EvoSync setting in the environment (the tests' own REDIS_URL/DATABASE_URL included)."""
    for name in [*EXAMPLE_NAMES, "EVOSYNC_ENV", "FLASK_ENV", "EVOSYNC_INSTANCE_PATH"]:
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    for name in EXAMPLE_NAMES:  # load_env_file wrote straight into os.environ
        os.environ.pop(name, None)


def test_every_empty_setting_gives_its_default(clean_env, tmp_path):
    """Each variable set to an empty (or blank) string reads exactly as if it were unset."""
    unset = load_config(str(tmp_path))
    for name in EXAMPLE_NAMES:
        clean_env.setenv(name, "  " if name.endswith("URL") else "")
    assert load_config(str(tmp_path)) == unset
    assert unset["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///")
    assert Path(unset["VK_DEFAULT_PHOTO_PATH"]).is_file()


def test_env_example_copied_verbatim_works_for_development(clean_env, tmp_path):
    """`cp .env.example .env` gives a working development config: SQLite, the bundled photo, the defaults."""
    load_env_file(EXAMPLE)
    cfg = load_config(str(tmp_path))
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/evosync.db"
    assert Path(cfg["VK_DEFAULT_PHOTO_PATH"]).is_file()
    assert cfg["REDIS_URL"].startswith("redis://127.0.0.1")
    assert cfg["SMTP_HOST"] == "localhost" and cfg["SESSION_COOKIE_SECURE"] is False


def test_env_file_fills_empty_variables_but_never_replaces_given_ones(clean_env, tmp_path):
    """A .env value fills a variable the process has empty; a non-empty one from the process wins."""
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\nVK_API_VERSION=5.131\n", encoding="utf-8")
    clean_env.setenv("LOG_LEVEL", "")
    clean_env.setenv("VK_API_VERSION", "5.199")
    load_env_file(env_file)
    assert os.environ["LOG_LEVEL"] == "DEBUG" and os.environ["VK_API_VERSION"] == "5.199"


def test_production_with_the_example_verbatim_names_every_secret_to_set(clean_env, tmp_path):
    """Compose (production) with .env.example unchanged refuses to start and names SECRET_KEY and ENCRYPTION_KEY."""
    load_env_file(EXAMPLE)
    clean_env.setenv("EVOSYNC_ENV", "production")
    with pytest.raises(ConfigError) as err:
        load_config(str(tmp_path))
    message = str(err.value)
    assert "SECRET_KEY is a placeholder" in message and "ENCRYPTION_KEY is not set" in message
    assert "secrets.token_urlsafe" in message


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("SECRET_KEY", "change-me-to-a-long-random-string", "placeholder"),
        ("SECRET_KEY", "dev-insecure-change-me", "placeholder"),
        ("SECRET_KEY", "short-but-random-Zq8", "too short"),
        ("ENCRYPTION_KEY", "", "not set"),
        ("ENCRYPTION_KEY", "abc123", "too short"),
        ("EVOTOR_WEBHOOK_SECRET", "changeme", "placeholder"),
    ],
)
def test_production_refuses_weak_secrets_naming_the_variable(clean_env, tmp_path, name, value, why):
    """Each weak secret is refused with its variable's name and the reason; the rest being good."""
    good = make_env["fill"](EXAMPLE.read_text(encoding="utf-8"))
    env_file = tmp_path / "generated.env"
    env_file.write_text(good, encoding="utf-8")
    load_env_file(env_file)
    clean_env.setenv("EVOSYNC_ENV", "production")
    load_config(str(tmp_path))  # the generated file is accepted as it is
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=f"{name} is (a )?{why}"):
        load_config(str(tmp_path))


def test_generated_env_is_accepted_by_production(clean_env, tmp_path):
    """deploy/make_env.py fills every secret of .env.example; production starts with that file."""
    text = make_env["fill"](EXAMPLE.read_text(encoding="utf-8"))
    assert "change-me" not in text and re.search(r"^ENCRYPTION_KEY=\S{40,}$", text, re.M)
    env_file = tmp_path / ".env"
    env_file.write_text(text, encoding="utf-8")
    load_env_file(env_file)
    clean_env.setenv("EVOSYNC_ENV", "production")
    cfg = load_config(str(tmp_path))
    assert cfg["PRODUCTION"] and len(cfg["SECRET_KEY"]) >= 32


@pytest.mark.parametrize(("base_url", "secure"), [("http://192.0.2.10:8080", False), ("https://sync.example", True)])
def test_cookie_policy_follows_base_url_scheme(clean_env, tmp_path, base_url, secure):
    """Secure cookies exactly when BASE_URL is https, in production as in development."""
    clean_env.setenv("BASE_URL", base_url)
    for env in ("development", "production"):
        clean_env.setenv("EVOSYNC_ENV", env)
        clean_env.setenv("SECRET_KEY", "k" * 40)
        clean_env.setenv("ENCRYPTION_KEY", "e" * 40)
        cfg = load_config(str(tmp_path))
        assert cfg["SESSION_COOKIE_SECURE"] is secure and cfg["REMEMBER_COOKIE_SECURE"] is secure
        assert cfg["PREFERRED_URL_SCHEME"] == ("https" if secure else "http")
