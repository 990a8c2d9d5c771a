"""`make run` (evosync/devrun.py) stops cleanly on Ctrl-C: the app processes before Redis and the sandbox, no
traceback, nothing left listening."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.timeout(180)
@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("mysql"),
    reason="make run uses its own SQLite and Redis: the SQLite pass of the suite covers it",
)
def test_ctrl_c_stops_everything_in_order_without_a_traceback(tmp_path):
    """With .env.example copied verbatim, `make run` starts; Ctrl-C reaches its whole process group, as a terminal
    sends it; web, worker and scheduler stop first, then the sandbox and Redis; the output has no traceback and no
    port is left open."""
    web, sandbox, redis = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        PORT=str(web),
        SANDBOX_PORT=str(sandbox),
        DEVRUN_REDIS_PORT=str(redis),
        EVOSYNC_INSTANCE_PATH=str(tmp_path / "instance"),
        EVOSYNC_DOTENV=str(ROOT / ".env.example"),  # `cp .env.example .env` as it is
        SCHEDULER_INTERVAL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "devrun.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "evosync.devrun"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the test plays the terminal
        )
        try:
            deadline = time.monotonic() + 120
            while "Ctrl-C stops everything" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.3)
            assert "Ctrl-C stops everything" in log.read_text(), log.read_text()
            time.sleep(2)  # the worker, the scheduler and the demo's first jobs are busy with Redis
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = log.read_text()
    assert "Traceback" not in output, output
    stopping = output.split("stopping", 1)[1]
    order = [line.split("] ", 1)[1] for line in stopping.splitlines() if line.startswith("[make run] stopped")]
    assert [o.split(" (")[0] for o in order] == [
        "stopped web",
        "stopped worker",
        "stopped scheduler",
        "stopped sandbox",
        "stopped redis",
    ], order
    for port in (web, sandbox, redis):
        assert not _listening(port), f"port {port} still open"
