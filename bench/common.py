"""Bench plumbing: Redis, MariaDB and the sandbox as child processes on loopback, the app, merchants, figures.

Every benchmark builds on these helpers so each one starts from nothing (a clean clone, no running services):

    with Services(mariadb=True) as services:      # redis-server (+ mariadbd in a temp datadir) on free ports
        sandbox = SandboxProcess(vk_accounts={"vk-token": 900001}).start()   # its own process: its CPU and
        app = make_app(services.sqlite_url("x"), services.redis_url, sandbox.base_url)  # memory are not ours

``python -m bench.common sandbox --port P --vk vk-token:900001`` is the sandbox process itself: the emulators
with VK users and communities added up front (the sandbox's HTTP controls cannot add VK accounts), VK's
3 requests/s per token rule on.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.mirror_memory import RssSampler, rss_mb  # noqa: E402  (re-exported for the benchmarks)

__all__ = ["RssSampler", "rss_mb"]

PASSWORD = "Bench-Horse-9"
SECRET_KEY = "bench-secret-key-not-for-production-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``check()`` until it is truthy; RuntimeError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(interval)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def stop_process(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """Terminate one child we started (by its own pid), kill it if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


# --------------------------------------------------------------------------------------------- services


class Services:
    """redis-server and, when asked, mariadbd in a temp directory on free loopback ports; torn down on exit."""

    def __init__(self, mariadb: bool = False):
        self.want_mariadb = mariadb
        self.workdir = Path(tempfile.mkdtemp(prefix="evosync-bench."))
        os.chmod(self.workdir, 0o755)  # mariadbd runs as the mysql user and must reach its datadir
        self.redis_port = free_port()
        self.db_port: int | None = None
        self._redis: subprocess.Popen | None = None
        self._mariadb: subprocess.Popen | None = None

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def mariadb_url(self) -> str:
        if self.db_port is None:
            raise RuntimeError("MariaDB was not started (Services(mariadb=True))")
        return f"mysql+pymysql://evosync:evosync@127.0.0.1:{self.db_port}/evosync_bench?charset=utf8mb4"

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{self.workdir / (name + '.db')}"

    def __enter__(self) -> Services:
        try:
            self._start_redis()
            if self.want_mariadb:
                self._start_mariadb()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        stop_process(self._mariadb, timeout=30)
        stop_process(self._redis)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _start_redis(self) -> None:
        from evosync.devrun import redis_server_command

        self._redis = subprocess.Popen(
            redis_server_command(self.redis_port, self.workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import redis

        wait_until(lambda: redis.Redis.from_url(self.redis_url).ping(), 20, "redis-server")

    def _start_mariadb(self) -> None:
        datadir, rundir = self.workdir / "mysql", self.workdir / "run"
        datadir.mkdir()
        rundir.mkdir()
        as_root = os.geteuid() == 0
        if as_root:
            shutil.chown(datadir, "mysql", "mysql")
            shutil.chown(rundir, "mysql", "mysql")
        user = ["--user=mysql"] if as_root else []
        subprocess.run(
            ["mariadb-install-db", *user, f"--datadir={datadir}", "--auth-root-authentication-method=normal"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.db_port = free_port()
        socket_path = rundir / "mysqld.sock"
        self._mariadb = subprocess.Popen(
            [
                "mariadbd",
                *user,
                f"--datadir={datadir}",
                f"--socket={socket_path}",
                f"--pid-file={rundir / 'mysqld.pid'}",
                "--bind-address=127.0.0.1",
                f"--port={self.db_port}",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-buffer-pool-size=256M",
                "--max-connections=200",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "mysqld.log", "wb"),  # noqa: SIM115  (closed with the process)
        )
        client = ["mariadb", f"--socket={socket_path}", "-uroot"]
        wait_until(
            lambda: subprocess.run([*client, "-e", "SELECT 1"], capture_output=True).returncode == 0, 60, "mariadbd"
        )
        subprocess.run(
            [
                *client,
                "-e",
                "CREATE DATABASE evosync_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
                "CREATE USER 'evosync'@'127.0.0.1' IDENTIFIED BY 'evosync';"
                "GRANT ALL ON evosync_bench.* TO 'evosync'@'127.0.0.1';",
            ],
            check=True,
        )

    def reset_mariadb(self) -> None:
        """An empty evosync_bench database (each run migrates from nothing)."""
        subprocess.run(
            [
                "mariadb",
                f"--socket={self.workdir / 'run' / 'mysqld.sock'}",
                "-uroot",
                "-e",
                "DROP DATABASE IF EXISTS evosync_bench;"
                "CREATE DATABASE evosync_bench CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;",
            ],
            check=True,
        )


# --------------------------------------------------------------------------------------------- sandbox


class SandboxProcess:
    """The sandbox in a child process (``python -m bench.common sandbox``) with the given VK accounts."""

    def __init__(
        self,
        vk_accounts: dict[str, int] | None = None,
        evotor_page_size: int = 1000,
        readings: str = "",
        token_log: bool = False,
    ):
        self.vk_accounts = dict(vk_accounts or {})
        self.readings = readings  # evosync/sandbox/readings.py, as "name=value,..."
        self.token_log = token_log  # record every VK request's token and time (VkTokenLog, /_bench/vk/tokens)
        self.evotor_page_size = evotor_page_size
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SandboxProcess:
        vk = [arg for token, group in self.vk_accounts.items() for arg in ("--vk", f"{token}:{group}")]
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.common",
                "sandbox",
                "--port",
                str(self.port),
                "--readings",
                self.readings,
                *(["--token-log"] if self.token_log else []),
                *vk,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: requests.get(self.base_url + "/_sandbox/health", timeout=1).ok, 30, "sandbox")
        self.post("/_sandbox/evotor/settings", {"page_size": self.evotor_page_size})
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def post(self, path: str, body: dict, timeout: float = 600) -> Any:
        answer = requests.post(self.base_url + path, json=body, timeout=timeout)
        answer.raise_for_status()
        return answer.json()

    def seed_evotor(self, token: str, n_products: int, seed: int = 1, with_images_ratio: float = 0.2) -> dict:
        self.post("/_sandbox/evotor/accounts", {"token": token})
        return self.post(
            "/_sandbox/evotor/seed",
            {"token": token, "n_products": n_products, "seed": seed, "with_images_ratio": with_images_ratio},
        )

    def update_product(self, token: str, store_id: str, product_id: str, **fields: Any) -> dict:
        return self.post(
            f"/_sandbox/evotor/stores/{store_id}/products/{product_id}", {"token": token, "fields": fields}
        )

    def stats(self) -> dict:
        return requests.get(self.base_url + "/_sandbox/stats", timeout=30).json()

    def vk_stats(self) -> dict:
        return self.stats()["vk"]

    def vk_tokens(self) -> dict[str, dict]:
        """Per VK token: requests, first/last request (epoch seconds), most requests in any 1 s (``token_log``)."""
        return requests.get(self.base_url + "/_bench/vk/tokens", timeout=60).json()

    def vk_items(self, group_id: int) -> list[dict]:
        """Every item of the community, removed ones included (the sandbox's control endpoint)."""
        return requests.get(self.base_url + "/_sandbox/vk/items", params={"group_id": group_id}, timeout=60).json()


class VkTokenLog:
    """Every VK API request's token and arrival time, taken under the emulator's lock (the moment its 3/s window
    is checked), so the figures are what VK would see per token: the sandbox's own stats are totals only."""

    def __init__(self, vk_state):
        self.vk = vk_state
        self.times: dict[str, list[tuple[float, float]]] = {}  # token -> [(monotonic, epoch)]
        original = vk_state.handle_request

        def logged(method, raw_params, vk_base):
            with vk_state.lock:  # an RLock: handle_request takes it again and checks the window inside
                token = raw_params.get("access_token", "")
                self.times.setdefault(token, []).append((time.monotonic(), time.time()))
                return original(method, raw_params, vk_base)

        vk_state.handle_request = logged

    def summary(self, window: float = 1.0) -> dict[str, dict]:
        with self.vk.lock:
            copied = {token: list(times) for token, times in self.times.items()}
        return {token: token_figures(times, window) for token, times in copied.items()}


def token_figures(times: Sequence[tuple[float, float]], window: float = 1.0) -> dict:
    """Requests, first and last arrival (epoch) and the most arrivals in any ``window`` seconds (monotonic)."""
    stamps = sorted(t for t, _ in times)
    most, low = 0, 0
    for high, now in enumerate(stamps):
        while now - stamps[low] >= window:  # the emulator's rule: a stamp leaves the window after exactly 1 s
            low += 1
        most = max(most, high - low + 1)
    epochs = [e for _, e in times]
    return {
        "requests": len(stamps),
        "first": min(epochs) if epochs else None,
        "last": max(epochs) if epochs else None,
        "max_in_1s": most,
    }


def serve_sandbox(argv: Sequence[str]) -> int:
    """The sandbox process: VK accounts from ``--vk token:group_id``, then serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.common sandbox")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--vk", action="append", default=[], help="token:group_id (a user administering a community)")
    parser.add_argument("--readings", default="", help="open behaviours to follow (evosync/sandbox/readings.py)")
    parser.add_argument("--token-log", action="store_true", help="record VK requests per token (/_bench/vk/tokens)")
    args = parser.parse_args(argv)
    from flask import jsonify

    from evosync.sandbox import Sandbox, readings

    sandbox = Sandbox(seed=1, port=args.port)
    sandbox.set_readings(readings.parse(args.readings))
    if args.token_log:
        token_log = VkTokenLog(sandbox.vk)
        sandbox.app.add_url_rule("/_bench/vk/tokens", "bench_vk_tokens", lambda: jsonify(token_log.summary()))
    for spec in args.vk:
        token, group_id = spec.rsplit(":", 1)
        sandbox.vk.add_user(token)
        sandbox.vk.add_community(int(group_id), f"Бенчмарк {group_id}", admin_tokens=(token,))
    sandbox.start()

    def _stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    with contextlib.suppress(KeyboardInterrupt):
        sandbox.serve_forever()
    return 0


# --------------------------------------------------------------------------------------------- the app


def app_config(database_url: str, redis_url: str, sandbox_url: str | None = None) -> dict[str, Any]:
    """Settings the benchmarks run the app with (also exported as env vars for gunicorn)."""
    config: dict[str, Any] = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "RUN_JOBS_INLINE": True,
        "LOG_LEVEL": "WARNING",
        "VK_TIMEOUT": 30.0,
        "EVOTOR_TIMEOUT": 30.0,
    }
    if database_url.startswith("mysql"):
        from evosync.config import engine_options

        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(database_url)  # as production: READ COMMITTED
    if sandbox_url:
        config.update(EVOTOR_API_URL=sandbox_url + "/evotor", VK_API_URL=sandbox_url + "/vk/method")
    return config


def make_app(database_url: str, redis_url: str, sandbox_url: str | None = None, **extra: Any):
    """The app on ``database_url`` migrated to head (not yet inside an app context)."""
    from flask_migrate import upgrade

    from evosync import create_app

    app = create_app({**app_config(database_url, redis_url, sandbox_url), **extra})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def add_merchant(evotor_token: str | None = None, vk_token: str | None = None, group_id: int | None = None) -> int:
    """An active merchant (password PASSWORD) with the given connections; inside an app context. Its user id."""
    from flask_security.utils import hash_password

    from evosync.extensions import db
    from evosync.models import ConnectionState, EvotorConnection, UserStatus, VkConnection, utcnow
    from evosync.models.datastore import user_datastore

    user = user_datastore.create_user(
        email=f"bench-{uuid.uuid4().hex[:12]}@example.com",
        password=hash_password(PASSWORD),
        roles=[user_datastore.find_role("user")],
    )
    user.status = UserStatus.ACTIVE
    user.confirmed_at = utcnow()
    db.session.flush()
    if evotor_token:
        db.session.add(EvotorConnection(user_id=user.id, access_token=evotor_token, state=ConnectionState.CONNECTED))
    if vk_token and group_id:
        db.session.add(
            VkConnection(
                user_id=user.id,
                access_token=vk_token,
                group_id=group_id,
                group_name=f"Бенчмарк {group_id}",
                market_enabled=True,
                state=ConnectionState.CONNECTED,
            )
        )
    db.session.commit()
    return user.id


def user_email(user_id: int) -> str:
    from evosync.extensions import db
    from evosync.models import User

    return db.session.get(User, user_id).email


# --------------------------------------------------------------------------------------------- figures


def median(values: Iterable[float | int | None]) -> float | None:
    numbers = [v for v in values if v is not None]
    return statistics.median(numbers) if numbers else None


def medians(runs: Sequence[dict], keys: Iterable[str] | None = None) -> dict[str, Any]:
    """Per key, the median over runs of numeric figures (the value itself when all runs agree otherwise)."""
    keys = list(keys) if keys is not None else list(dict.fromkeys(k for run in runs for k in run))
    out: dict[str, Any] = {}
    for key in keys:
        values = [run.get(key) for run in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None):
            out[key] = median(values)
        else:
            out[key] = values[0] if len(set(map(str, values))) == 1 else values
    return out


def percentile(sorted_values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of an ascending list (``share`` 0.95 -> p95)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


def floor_seconds(calls: int, per_execute: int = 25, per_second: int = 3) -> float:
    """VK's floor for ``calls`` API calls: every request carries 25 of them, 3 requests a second."""
    return math.ceil(calls / per_execute) / per_second


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "sandbox":
        sys.exit(serve_sandbox(sys.argv[2:]))
    print("usage: python -m bench.common sandbox --port P [--vk token:group_id ...]", file=sys.stderr)
    sys.exit(2)
