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
