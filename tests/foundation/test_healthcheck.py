"""The containers' health checks and the dashboard launcher, run as compose runs them: as commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rq import Worker

from evosync.heartbeat import LAST_TICK_KEY
from evosync.redis_conn import get_redis

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_worker_check_sees_only_a_live_worker_of_this_host(app, redis_url):
    """`healthcheck worker` fails while no worker of this host is registered, passes once one is."""
    result = _run(["-m", "evosync.healthcheck", "worker"], {"REDIS_URL": redis_url})
    assert result.returncode == 1 and "no live RQ worker" in result.stdout
    worker = Worker(["default"], connection=get_redis())
    worker.register_birth()
    try:
        result = _run(["-m", "evosync.healthcheck", "worker"], {"REDIS_URL": redis_url})
        assert result.returncode == 0 and result.stdout.startswith("healthy: worker: 1 live"), result.stdout
    finally:
        worker.register_death()


def test_scheduler_check_wants_a_recent_tick(app, redis_url):
    """`healthcheck scheduler`: unhealthy with no tick or a stale one, healthy right after a tick."""
    env = {"REDIS_URL": redis_url, "SCHEDULER_INTERVAL_SECONDS": "5"}
    assert "never ticked" in _run(["-m", "evosync.healthcheck", "scheduler"], env).stdout
    get_redis().set(LAST_TICK_KEY, repr(time.time() - 600))
    assert "(more than 60 s)" in _run(["-m", "evosync.healthcheck", "scheduler"], env).stdout
    get_redis().set(LAST_TICK_KEY, repr(time.time()))
    assert _run(["-m", "evosync.healthcheck", "scheduler"], env).returncode == 0


def test_web_check_fails_clearly_when_nothing_listens():
    """`healthcheck web` with nothing on the port: exit 1 and a line saying so (the live case: deploy/rehearse.py)."""
    result = _run(["-m", "evosync.healthcheck", "web"], {"PORT": "9"})
    assert result.returncode == 1 and "unreachable" in result.stdout


def test_dashboard_refuses_to_start_without_a_password():
    """The dashboard service without RQ_DASHBOARD_PASSWORD (empty, as in .env.example) says what to set and exits
    78 instead of serving the queues to anyone."""
    result = _run(["-m", "evosync.dashboard"], {"RQ_DASHBOARD_PASSWORD": ""})
    assert result.returncode == 78
    assert "needs RQ_DASHBOARD_PASSWORD" in result.stderr and "/admin/rq" in result.stderr
    assert "Traceback" not in result.stderr
    assert _run(["-m", "evosync.dashboard"], {"RQ_DASHBOARD_PASSWORD": "short"}).returncode == 78


def test_entry_points_report_a_bad_setting_in_one_line(tmp_path):
    """worker.py, scheduler.py and gunicorn's wsgi with a production placeholder secret: one line naming it,
    exit 78, no traceback."""
    env = {"EVOSYNC_ENV": "production", "SECRET_KEY": "change-me-to-a-long-random-string", "ENCRYPTION_KEY": ""}
    env["EVOSYNC_INSTANCE_PATH"] = str(tmp_path)
    for args in (["worker.py", "--burst"], ["scheduler.py", "--reconcile-only"], ["-c", "import wsgi"]):
        result = _run(args, env)
        assert result.returncode == 78, (args, result.stderr)
        assert result.stderr.startswith("EvoSync cannot start: SECRET_KEY is a placeholder"), result.stderr
        assert "ENCRYPTION_KEY is not set" in result.stderr and "Traceback" not in result.stderr
