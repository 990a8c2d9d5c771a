"""Flask extensions, created unbound; create_app() binds them in order."""

import sqlite3
import time

from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_security import Security
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool

# Stable constraint names keep migrations identical on SQLite and MariaDB.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
security = Security()
mail = Mail()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite enforces foreign keys (and so our cascades) only when asked, per connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


# MariaDB: a pooled connection that sat idle this long is pinged before it is handed out, and replaced when the
# ping fails (the server restarted, a network cut, wait_timeout). A connection in steady use is not: a ping on
# every checkout (pool_pre_ping) cost 0.8 ms of CPU and a round trip per request. A connection killed while in
# steady use fails its next statement instead, and SQLAlchemy then drops every pooled connection of that engine.
PING_AFTER_IDLE_SECONDS = 10.0


@event.listens_for(Pool, "checkin")
def _remember_checkin(dbapi_connection, record) -> None:
    record.info["checked_in_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_when_idle(dbapi_connection, record, _proxy) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection) or not hasattr(dbapi_connection, "ping"):
        return
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
        return  # just opened, or in steady use
    try:
        dbapi_connection.ping(False)
    except Exception as exc:  # the pool discards this connection and checks out a fresh one
        raise sa_exc.DisconnectionError("a pooled connection did not answer its ping") from exc


SERVER_STATUS_IN_TRANS = 1  # MySQL protocol: the server_status flag of an open transaction


@event.listens_for(Pool, "reset")
def _reset_on_return(dbapi_connection, _record, state) -> None:
    """With ``pool_reset_on_return=None`` (MariaDB, config.engine_options) this is the reset: roll back what the
    server reports as still open. The session's own close has usually rolled back already; then nothing is sent.
    SQLite (no server status) keeps SQLAlchemy's own reset."""
    if state.terminate_only or not hasattr(dbapi_connection, "server_status"):
        return
    if dbapi_connection.server_status & SERVER_STATUS_IN_TRANS:
        dbapi_connection.rollback()
