"""Real worker processes for the scheduling tests: `worker.py` on the test database, Redis and sandbox."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from evosync.extensions import db

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "catalog-webhook-secret"


@pytest.fixture
def jobs_app(app, sandbox):
    """The app with jobs going to Redis (not inline), pointed at the sandbox, VK pace limits off."""
    app.config.update(
        RUN_JOBS_INLINE=False,
        EVOTOR_API_URL=sandbox.evotor_url,
        VK_API_URL=sandbox.vk_url,
        VK_TIMEOUT=5.0,
        EVOTOR_TIMEOUT=5.0,
        VK_RATE_LIMIT_PER_SECOND=10_000,
        EVOTOR_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    sandbox.vk.rate_limit_enabled = False
    sandbox.evotor.page_size = 50
    return app


class Workers:
    """Starts `worker.py` subprocesses with the test's database and Redis; kills what is left at the end."""

    def __init__(self, app, sandbox, log_dir: Path):
        self.app = app
        self.sandbox = sandbox
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def env(self, **extra: str) -> dict[str, str]:
        config = self.app.config
        env = {
            **os.environ,
            # the same database the tests use (a SQLite file here, MariaDB in CI), and the same Redis
            "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": config["REDIS_URL"],
            "SECRET_KEY": config["SECRET_KEY"],
            "ENCRYPTION_KEY": config["ENCRYPTION_KEY"] or "",
            "EVOTOR_API_URL": self.sandbox.evotor_url,
            "VK_API_URL": self.sandbox.vk_url,
            "VK_RATE_LIMIT_PER_SECOND": str(config["VK_RATE_LIMIT_PER_SECOND"]),
            "VK_TIMEOUT": str(config["VK_TIMEOUT"]),
            "EVOTOR_TIMEOUT": str(config["EVOTOR_TIMEOUT"]),
            "JOB_LOCK_TTL_SECONDS": str(config["JOB_LOCK_TTL_SECONDS"]),
            "SYNC_DEBOUNCE_SECONDS": str(config["SYNC_DEBOUNCE_SECONDS"]),
            "RUN_JOBS_INLINE": "false",
            "LOG_LEVEL": "WARNING",
            "EVOSYNC_DOTENV": str(self.log_dir / "none.env"),
        }
        env.update(extra)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        n = len(self.procs) + 1
        log = open(self.log_dir / f"worker{n}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "worker.py"), *args],
            cwd=REPO,
            env=self.env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill takes the work horse too
        )
        proc.log_path = self.log_dir / f"worker{n}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def run_script(self, script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(REPO / script), *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def wait(self, proc: subprocess.Popen, timeout: float = 60) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"worker did not finish in {timeout}s:\n{self.log(proc)}") from None

    def log(self, proc: subprocess.Popen) -> str:
        return proc.log_path.read_text(errors="replace")[-4000:]  # type: ignore[attr-defined]

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL the worker and every process it started (work horses run in their own groups)."""
        for pid in [*_descendants(proc.pid), proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture
def workers(jobs_app, sandbox, tmp_path):
    started = Workers(jobs_app, sandbox, tmp_path)
    yield started
    started.stop_all()


def wait_for(predicate: Callable[[], object], timeout: float = 30, what: str = "condition") -> object:
    """Poll ``predicate`` (with a fresh database view each time) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # see what other processes committed
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
