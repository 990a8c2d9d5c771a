"""The compose ``dashboard`` service: rq-dashboard, only with a password.

    python -m evosync.dashboard      # RQ_DASHBOARD_PASSWORD and REDIS_URL from the environment

Without a password it does not start and says why (exit 78, "configuration error"): the queues would be open
to anyone who reaches the port. Staff who log in to the app have the same dashboard at /admin/rq.
"""

from __future__ import annotations

import os
import shutil
import sys

from .config import MIN_DASHBOARD_PASSWORD, env_int, env_str

EX_CONFIG = 78


def main() -> int:
    password = env_str("RQ_DASHBOARD_PASSWORD")
    if len(password) < MIN_DASHBOARD_PASSWORD:
        sys.stderr.write(
            "The rq-dashboard service needs RQ_DASHBOARD_PASSWORD in .env "
            f"({'it is not set' if not password else 'it is too short'}; at least {MIN_DASHBOARD_PASSWORD} "
            "characters, e.g. from: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'). "
            "Staff can use the same dashboard in the app at /admin/rq without this service.\n"
        )
        return EX_CONFIG
    binary = shutil.which("rq-dashboard") or "rq-dashboard"
    # Credentials and the Redis URL go through rq-dashboard's RQ_DASHBOARD_* variables, never the command line
    # (which every local user can read in ps).
    env = dict(os.environ)
    env["RQ_DASHBOARD_USERNAME"] = env_str("RQ_DASHBOARD_USERNAME", "admin")
    env["RQ_DASHBOARD_PASSWORD"] = password
    env["RQ_DASHBOARD_REDIS_URL"] = env_str("REDIS_URL", "redis://127.0.0.1:6390/0")
    port = str(env_int("RQ_DASHBOARD_PORT", 5555))
    bind = env_str("RQ_DASHBOARD_BIND", "0.0.0.0")  # noqa: S104 - inside its container; compose maps the port
    os.execvpe(binary, [binary, "--bind", bind, "--port", port], env)  # noqa: S606 - a fixed program, no shell
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
