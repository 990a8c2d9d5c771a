"""The scheduler's heartbeat in Redis: the moment it last checked for due jobs (read by /health and the healthcheck)."""

from __future__ import annotations

import time

import redis

LAST_TICK_KEY = "evosync:scheduler:last_tick"


def record_tick(connection: redis.Redis, moment: float | None = None) -> None:
    connection.set(LAST_TICK_KEY, repr(moment if moment is not None else time.time()))


def last_tick(connection: redis.Redis) -> float | None:
    """Epoch seconds of the scheduler's last check for due jobs, or None if it never ran."""
    raw = connection.get(LAST_TICK_KEY)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
