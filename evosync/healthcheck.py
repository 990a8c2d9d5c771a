"""Container health checks: ``python -m evosync.healthcheck web|worker|scheduler`` exits 0 when healthy.

- web: GET http://127.0.0.1:$PORT/health answers 200 (database and Redis reachable).
- worker: an RQ worker of this host (container) is registered in Redis and its key has not expired.
- scheduler: the scheduler's last tick is recent (a few intervals, at least a minute).

Each prints one line saying what it found, which ``docker inspect`` shows under the container's health.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request

import redis
from rq import Worker

from .config import ConfigError, env_int, load_config
from .heartbeat import last_tick

SCHEDULER_STALE_AFTER = 60.0


def check_web() -> str:
    url = f"http://127.0.0.1:{env_int('PORT', 8000)}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a fixed loopback http URL
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        raise Unhealthy(f"web: {url} unreachable ({exc})") from None
    if status != 200:
        raise Unhealthy(f"web: {url} answered {status}")
    return f"web: {url} 200"


def _redis(config: dict):
    return redis.Redis.from_url(config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5)


def check_worker(config: dict) -> str:
    host = socket.gethostname()
    try:
        workers = [w for w in Worker.all(connection=_redis(config)) if w.hostname == host]
    except OSError as exc:
        raise Unhealthy(f"worker: Redis unreachable ({exc})") from None
    except Exception as exc:  # redis-py's errors are not OSErrors
        raise Unhealthy(f"worker: Redis unreachable ({type(exc).__name__})") from None
    if not workers:
        raise Unhealthy(f"worker: no live RQ worker registered from host {host}")
    return f"worker: {len(workers)} live on {host} ({', '.join(w.name for w in workers)})"


def check_scheduler(config: dict) -> str:
    try:
        tick = last_tick(_redis(config))
    except Exception as exc:
        raise Unhealthy(f"scheduler: Redis unreachable ({type(exc).__name__})") from None
    stale_after = max(SCHEDULER_STALE_AFTER, 6 * float(config["SCHEDULER_INTERVAL_SECONDS"]))
    if tick is None:
        raise Unhealthy("scheduler: has never ticked")
    age = time.time() - tick
    if age > stale_after:
        raise Unhealthy(f"scheduler: last tick {age:.0f} s ago (more than {stale_after:.0f} s)")
    return f"scheduler: last tick {age:.1f} s ago"


class Unhealthy(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("web", "worker", "scheduler"):
        sys.stderr.write("usage: python -m evosync.healthcheck web|worker|scheduler\n")
        return 2
    try:
        if args[0] == "web":
            line = check_web()
        else:
            config = load_config(tempfile.gettempdir())
            line = check_worker(config) if args[0] == "worker" else check_scheduler(config)
    except (Unhealthy, ConfigError) as exc:
        sys.stdout.write(f"unhealthy: {exc}\n")
        return 1
    sys.stdout.write(f"healthy: {line}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
