"""Settings from the environment (or a .env file), typed, with the defaults of the README table."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dotenv import dotenv_values

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SECRET_KEY = "dev-insecure-change-me"  # noqa: S105 - a marker that production refuses


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which one and what to do."""


def env_raw(name: str) -> str | None:
    """The one rule for every setting: unset, empty or blank all mean "not set" (None); otherwise stripped.

    ``.env.example`` lists every variable with an empty value, and docker compose passes such lines on as
    empty strings: an empty line must give the documented default, never an empty URL or path.
    """
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str = "") -> str:
    value = env_raw(name)
    return default if value is None else value


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = env_raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = env_raw(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def env_bool(name: str, default: bool) -> bool:
    raw = env_raw(name)
    if raw is None:
        return default
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def load_env_file(path: str | os.PathLike) -> None:
    """Read a .env file into the environment: a value there fills a variable that is unset *or empty*
    (the same rule as env_raw), and never replaces one the process was given."""
    for name, value in dotenv_values(path).items():
        if value is not None and env_raw(name) is None:
            os.environ[name] = value


# Values that only ever appear in examples and docs; production refuses them for any secret.
KNOWN_PLACEHOLDERS = frozenset(
    {
        DEFAULT_SECRET_KEY,
        "change-me-to-a-long-random-string",
        "change-me",
        "changeme",
        "secret",
        "password",
        "evosync",
    }
)
MIN_SECRET_LENGTH = 32
MIN_DASHBOARD_PASSWORD = 12  # the compose rq-dashboard service (evosync/dashboard.py)


def secret_problem(name: str, value: str) -> str | None:
    """Why ``value`` is not fit to be the production secret ``name`` (None when it is)."""
    if not value:
        return f"{name} is not set"
    lowered = value.lower()
    if lowered in KNOWN_PLACEHOLDERS or "change-me" in lowered or "changeme" in lowered:
        return f"{name} is a placeholder from the examples"
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} is too short ({len(value)} characters; at least {MIN_SECRET_LENGTH})"
    return None


def check_production_secrets(secret_key: str, encryption_key: str, webhook_secret: str) -> None:
    """Production refuses a missing, placeholder or short SECRET_KEY or ENCRYPTION_KEY (and a weak
    EVOTOR_WEBHOOK_SECRET when one is set), naming every variable at fault in one message."""
    problems = [
        problem
        for problem in (
            secret_problem("SECRET_KEY", secret_key),
            secret_problem("ENCRYPTION_KEY", encryption_key),
            secret_problem("EVOTOR_WEBHOOK_SECRET", webhook_secret) if webhook_secret else None,
        )
        if problem
    ]
    if problems:
        raise ConfigError(
            "; ".join(problems)
            + ". Production needs long random secrets: generate each with "
            + "python3 -c 'import secrets; print(secrets.token_urlsafe(48))' (README, Deploy)"
        )


def normalise_database_url(url: str) -> str:
    """MariaDB/MySQL URLs go through PyMySQL with utf8mb4 whatever the user wrote."""
    if url.startswith("mysql://") or url.startswith("mariadb://"):
        url = "mysql+pymysql://" + url.split("://", 1)[1]
    if url.startswith("mysql+pymysql://") and "charset=" not in url:
        url += ("&" if "?" in url else "?") + "charset=utf8mb4"
    return url


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Workers, the web server and the scheduler share the file: wait for locks instead of failing.
        return {"connect_args": {"timeout": 30}}
    # READ COMMITTED: every statement sees what other processes (workers, the scheduler, webhooks) committed;
    # MariaDB's default REPEATABLE READ would pin a long-lived session to a stale snapshot.
    # Idle connections are pinged before use by extensions._ping_when_idle (not every checkout: pool_pre_ping).
    # A connection going back to the pool is rolled back only if the server says a transaction is open
    # (extensions._reset_on_return): the session has just rolled back, and a second ROLLBACK per request cost a
    # round trip.
    return {"pool_recycle": 280, "isolation_level": "READ COMMITTED", "pool_reset_on_return": None}


def load_config(instance_path: str) -> dict:
    """Read every setting once; the app factory copies the result into app.config."""
    env = env_str("EVOSYNC_ENV", env_str("FLASK_ENV", "development")).lower()
    production = env == "production"
    secret_key = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
    encryption_key = env_str("ENCRYPTION_KEY")
    if production:
        check_production_secrets(env_str("SECRET_KEY"), encryption_key, env_str("EVOTOR_WEBHOOK_SECRET"))
    database_url = normalise_database_url(
        env_str("DATABASE_URL", "sqlite:///" + str(Path(instance_path) / "evosync.db"))
    )
    base_url = env_str("BASE_URL", "http://localhost:8000").rstrip("/")
    # Cookies follow BASE_URL's scheme: Secure behind TLS (https), plain on an http LAN trial, where a Secure
    # cookie would never come back and nobody could log in (README, Deploy: "TLS").
    https = base_url.lower().startswith("https://")
    email_provider = env_str("EMAIL_PROVIDER", "console")
    if email_provider not in {"console", "smtp"}:
        raise ConfigError(f"EMAIL_PROVIDER must be console or smtp, got {email_provider!r}")
    sms_provider = env_str("SMS_PROVIDER", "console")
    if sms_provider not in {"console"}:
        raise ConfigError(f"SMS_PROVIDER must be console, got {sms_provider!r}")
    default_photo = env_str("VK_DEFAULT_PHOTO_PATH", str(PACKAGE_DIR / "static" / "img" / "default-product.png"))

    return {
        "ENV_NAME": env,
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "ENCRYPTION_KEY": encryption_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "REDIS_URL": env_str("REDIS_URL", "redis://127.0.0.1:6390/0"),
        "BASE_URL": base_url,
        "PREFERRED_URL_SCHEME": "https" if https else "http",
        "EVOTOR_APP_ID": env_str("EVOTOR_APP_ID"),
        "EVOTOR_WEBHOOK_SECRET": env_str("EVOTOR_WEBHOOK_SECRET"),
        "EVOTOR_API_URL": env_str("EVOTOR_API_URL", "https://api.evotor.ru").rstrip("/"),
        "EVOTOR_TIMEOUT": env_float("EVOTOR_TIMEOUT", 15.0),
        "EVOTOR_IMAGE_CHECKS_PER_REFRESH": env_int("EVOTOR_IMAGE_CHECKS_PER_REFRESH", 1000, minimum=0),
        # Evotor documents no request rate: ours per token until its 429s teach a lower one (services/evotor_pace.py)
        "EVOTOR_RATE_LIMIT_PER_SECOND": env_int("EVOTOR_RATE_LIMIT_PER_SECOND", 20, minimum=1),
        "EVOTOR_RATE_LEARNT_HOURS": env_float("EVOTOR_RATE_LEARNT_HOURS", 24.0),
        # A 429 asking to wait at most this long is waited out; a longer one pauses the merchant's Evotor work
        "EVOTOR_RETRY_AFTER_MAX_WAIT": env_float("EVOTOR_RETRY_AFTER_MAX_WAIT", 60.0),
        "VK_API_URL": env_str("VK_API_URL", "https://api.vk.com/method").rstrip("/"),
        "VK_API_VERSION": env_str("VK_API_VERSION", "5.199"),
        "VK_TIMEOUT": env_float("VK_TIMEOUT", 15.0),
        "VK_RATE_LIMIT_PER_SECOND": env_int("VK_RATE_LIMIT_PER_SECOND", 3, minimum=1),
        "VK_FLOOD_RETRIES": env_int("VK_FLOOD_RETRIES", 2, minimum=0),
        "VK_FLOOD_PAUSE_SECONDS": env_float("VK_FLOOD_PAUSE_SECONDS", 10.0),
        "VK_DEFAULT_CATEGORY_ID": env_int("VK_DEFAULT_CATEGORY_ID", 900, minimum=1),
        # market.get pages fetched per execute by the VK catalog refresh (lower it if VK finds answers too big)
        "VK_CATALOG_PAGES_PER_EXECUTE": env_int("VK_CATALOG_PAGES_PER_EXECUTE", 25, minimum=1),
        "VK_DEFAULT_PHOTO_PATH": default_photo,
        "VK_PHOTO_BULK_FILES": env_int("VK_PHOTO_BULK_FILES", 5, minimum=0),
        "VK_PHOTO_BULK_RETRY_HOURS": env_float("VK_PHOTO_BULK_RETRY_HOURS", 24.0),
        # A sync job stops starting new photo windows after this long and queues its next run behind the other
        # merchants' syncs (0: every run to its end). services/sync/runner.py
        "SYNC_SLICE_SECONDS": env_float("SYNC_SLICE_SECONDS", 60.0),
        "VK_ID_CLIENT_ID": env_str("VK_ID_CLIENT_ID"),
        "VK_ID_CLIENT_SECRET": env_str("VK_ID_CLIENT_SECRET"),
        "VK_ID_URL": env_str("VK_ID_URL", "https://id.vk.com").rstrip("/"),
        # Rights asked at "Connect with VK": market to publish, groups to list the communities the user manages.
        "VK_ID_SCOPE": env_str("VK_ID_SCOPE", "market groups"),
        "JIVOSITE_WIDGET_ID": env_str("JIVOSITE_WIDGET_ID"),
        "CATALOG_REFRESH_INTERVAL_SECONDS": env_int("CATALOG_REFRESH_INTERVAL_SECONDS", 3600, minimum=60),
        "SYNC_DEBOUNCE_SECONDS": env_int("SYNC_DEBOUNCE_SECONDS", 30, minimum=0),
        # Incidents (services/incidents): how often merchants are checked, how many failed runs in a row open one,
        # and how long before a VK token that cannot be renewed ends the merchant is warned.
        "INCIDENT_CHECK_INTERVAL_SECONDS": env_int("INCIDENT_CHECK_INTERVAL_SECONDS", 600, minimum=60),
        "INCIDENT_FAILED_RUNS": env_int("INCIDENT_FAILED_RUNS", 3, minimum=1),
        "INCIDENT_VK_TOKEN_WARNING_HOURS": env_int("INCIDENT_VK_TOKEN_WARNING_HOURS", 72, minimum=1),
        # Rendered products pages kept per web process (web/page_cache.py); 0 switches the cache off.
        "PAGE_CACHE_ENTRIES": env_int("PAGE_CACHE_ENTRIES", 256, minimum=0),
        # Per-merchant job locks (refresh, sync) expire this long after a dead worker last renewed them.
        "JOB_LOCK_TTL_SECONDS": env_int("JOB_LOCK_TTL_SECONDS", 300, minimum=1),
        "SCHEDULER_INTERVAL_SECONDS": env_float("SCHEDULER_INTERVAL_SECONDS", 5.0),
        "SYNC_RUNS_KEEP_DAYS": env_int("SYNC_RUNS_KEEP_DAYS", 90, minimum=1),
        # Evotor redelivers events for 3 days: remembered ids must outlive that.
        "WEBHOOK_EVENTS_KEEP_DAYS": env_int("WEBHOOK_EVENTS_KEEP_DAYS", 14, minimum=4),
        "INVITE_EXPIRE_HOURS": env_int("INVITE_EXPIRE_HOURS", 48, minimum=1),
        "EMAIL_PROVIDER": email_provider,
        "MAIL_DEFAULT_SENDER": env_str("MAIL_DEFAULT_SENDER", "EvoSync <noreply@evosync.local>"),
        "SMTP_HOST": env_str("SMTP_HOST", "localhost"),
        "SMTP_PORT": env_int("SMTP_PORT", 587),
        "SMTP_USERNAME": env_str("SMTP_USERNAME"),
        "SMTP_PASSWORD": env_str("SMTP_PASSWORD"),
        "SMTP_USE_TLS": env_bool("SMTP_USE_TLS", True),
        "SMTP_TIMEOUT": env_float("SMTP_TIMEOUT", 30.0),
        # Empty: the email provider picks (console -> readable stdout, smtp -> SMTP_*); tests set "locmem".
        "MAIL_BACKEND": env_str("MAIL_BACKEND"),
        "SMS_PROVIDER": sms_provider,
        "LOGIN_MAX_FAILURES": env_int("LOGIN_MAX_FAILURES", 5, minimum=1),
        "LOGIN_LOCK_SECONDS": env_int("LOGIN_LOCK_SECONDS", 900, minimum=1),
        "LOGIN_IP_MAX_FAILURES": env_int("LOGIN_IP_MAX_FAILURES", 30, minimum=1),
        "LOGIN_IP_WINDOW_SECONDS": env_int("LOGIN_IP_WINDOW_SECONDS", 900, minimum=1),
        "EMAIL_CHANGE_EXPIRE_HOURS": env_int("EMAIL_CHANGE_EXPIRE_HOURS", 24, minimum=1),
        "RQ_DASHBOARD_ENABLED": env_bool("RQ_DASHBOARD_ENABLED", True),
        "RUN_JOBS_INLINE": env_bool("RUN_JOBS_INLINE", False),
        "DEMO_MODE": env_bool("DEMO_MODE", False) and not production,
        "LOG_LEVEL": env_str("LOG_LEVEL", "INFO").upper(),
        "MAX_CONTENT_LENGTH": env_int("MAX_CONTENT_LENGTH", 2 * 1024 * 1024, minimum=1024),
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "BOOTSTRAP_SERVE_LOCAL": True,
        "BABEL_DEFAULT_LOCALE": "ru",
        # Compiled .mo catalogs (made from evosync/translations/*.po at start-up; never committed).
        "TRANSLATIONS_CACHE_DIR": str(Path(instance_path) / "translations"),
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": https,
        "REMEMBER_COOKIE_SECURE": https,
    }
