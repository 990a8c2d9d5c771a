"""MariaDB pool: a connection that sat idle is pinged before use, so a dropped one is replaced, not handed out.

Runs on the MariaDB pass of .ci/run (DATABASE_URL=mysql+pymysql://...); skipped on SQLite.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from evosync import extensions
from evosync.extensions import db


@pytest.fixture
def mariadb(app):
    if db.engine.dialect.name != "mysql":
        pytest.skip("MariaDB only: SQLite has no server connection to lose")
    return app


def _connection_id() -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT CONNECTION_ID()")).scalar_one()


def _kill(connection_id: int) -> None:
    """End one server connection from outside the pool, as a server restart or a network cut would."""
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as conn:
        conn.execute(sa.text(f"KILL {int(connection_id)}"))
    other.dispose()


def test_an_idle_connection_killed_by_the_server_is_replaced_before_use(mariadb, monkeypatch):
    """The pooled connection is killed on the server; after the idle threshold the next checkout pings it, finds
    it gone, and the pool hands out a fresh connection: the statement succeeds on a new server connection."""
    db.engine.dispose()
    killed = _connection_id()
    _kill(killed)
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0)
    assert _connection_id() != killed


def test_a_busy_connection_is_not_pinged_and_a_killed_one_then_fails_once(mariadb, monkeypatch):
    """Within the idle threshold there is no ping (the point: no round trip per request under load), so a
    connection killed meanwhile fails its next statement, and the pool is invalidated: the one after works."""
    db.engine.dispose()
    killed = _connection_id()
    _kill(killed)
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 3600)
    with pytest.raises(sa.exc.OperationalError), db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    assert _connection_id() != killed


def _commands(monkeypatch) -> list[str]:
    """The ROLLBACK/COMMIT commands PyMySQL sends from here on."""
    import pymysql.connections

    sent: list[str] = []
    original = pymysql.connections.Connection._execute_command

    def record(self, command, sql):
        if isinstance(sql, str) and sql in ("ROLLBACK", "COMMIT"):
            sent.append(sql)
        return original(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", record)
    return sent


def test_a_session_rolls_back_once_not_twice(mariadb, monkeypatch):
    """A request's session reads, then closes (Flask-SQLAlchemy's teardown): one ROLLBACK, not a second one from
    the pool's reset of the same connection (config.engine_options: pool_reset_on_return=None, and
    extensions._reset_on_return sends nothing once the server reports no open transaction)."""
    from sqlalchemy.orm import Session

    from evosync.models import Role

    db.engine.dispose()
    sent = _commands(monkeypatch)
    session = Session(db.engine)
    session.scalars(sa.select(Role)).all()
    session.close()
    assert sent == ["ROLLBACK"]


def test_a_connection_returned_inside_a_transaction_is_rolled_back(mariadb, monkeypatch):
    """Returned to the pool with a transaction still open (a raw DBAPI connection, no SQLAlchemy transaction to
    close), the reset rolls it back: the next user of the connection does not inherit its uncommitted row."""
    from evosync.models import Role

    db.engine.dispose()
    raw = db.engine.raw_connection()
    with raw.cursor() as cursor:
        cursor.execute("INSERT INTO roles (name, description, update_datetime) VALUES ('uncommitted-role', '', NOW())")
    sent = _commands(monkeypatch)
    raw.close()  # back to the pool, transaction open
    assert sent == ["ROLLBACK"]
    with db.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(Role).filter_by(name="uncommitted-role")).scalar() == 0
        )
