"""How fast EvoSync calls Evotor's API with one merchant's token, shared by every process (Redis).

Evotor documents no request rate; it answers 429 (with Retry-After, or "resume after 30 minutes") above its limit.
So the pace is ``EVOTOR_RATE_LIMIT_PER_SECOND`` until Evotor says otherwise: each short 429 the client waits out
halves the token's rate (never below 1 request/s), and the rate learnt so is kept for
``EVOTOR_RATE_LEARNT_HOURS``, after which the setting is tried again. A long 429 is not waited out here: the
caller pauses the merchant's Evotor work (services/evotor_catalog/refresh.py, services/sync/image_lookup.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import redis
from flask import current_app

from ..clients.ratelimit import RateLimiter, key_for_token
from ..redis_conn import get_redis

log = logging.getLogger(__name__)

SLOTS_PREFIX = "evosync:ratelimit:evotor:"  # the sliding window of a token's requests
LEARNT_PREFIX = "evosync:evotor:learnt-rate:"  # the rate Evotor's 429s taught, when below the setting


class EvotorPace:
    """The limiter of one Evotor token: ``acquire``/``finish`` around each request, ``slow_down`` on a 429."""

    def __init__(self, redis_client: redis.Redis, token: str, ceiling: int, learnt_hours: float):
        self.redis = redis_client
        self.ceiling = max(1, int(ceiling))
        self.learnt_ttl = max(60, int(learnt_hours * 3600))
        self._slots_key = key_for_token(token, SLOTS_PREFIX)
        self._learnt_key = key_for_token(token, LEARNT_PREFIX)
        self._lock = threading.Lock()
        self._unpaced_logged = False
        self._slowed_at = float("-inf")
        self.rate = min(self.ceiling, self._learnt() or self.ceiling)
        self._limiter = RateLimiter(redis_client, self._slots_key, rate=self.rate)

    def acquire(self, timeout: float | None = None) -> str | None:
        """A slot of the token's budget; without Redis none (the request goes: Evotor's 429 still slows us)."""
        try:
            return self._limiter.acquire(timeout)
        except redis.RedisError as exc:
            if not self._unpaced_logged:
                self._unpaced_logged = True
                log.warning("evotor pace unknown (redis); requests sent unpaced", extra={"error": type(exc).__name__})
            return None

    def finish(self, slot: str | None) -> None:
        if slot is not None:
            with contextlib.suppress(redis.RedisError):
                self._limiter.finish(slot)

    def slow_down(self) -> int:
        """Evotor answered 429: half the rate (at least 1/s) for this token, remembered. Returns the new rate.

        The 429s of requests already in flight (a few threads look images up at once) answer the same excess: one
        halving per second, not one per thread."""
        with self._lock:
            now = time.monotonic()
            if now - self._slowed_at < 1.0:
                return self.rate
            self._slowed_at = now
            learnt = self._learnt()
            current = min(self.rate, learnt) if learnt else self.rate
            self.rate = max(1, current // 2)
            self._limiter = RateLimiter(self.redis, self._slots_key, rate=self.rate)
        try:
            self.redis.set(self._learnt_key, self.rate, ex=self.learnt_ttl)
        except redis.RedisError as exc:
            log.warning("evotor rate not remembered (redis)", extra={"error": type(exc).__name__})
        log.info("evotor asked us to slow down", extra={"evotor_rate_per_second": self.rate})
        return self.rate

    def _learnt(self) -> int | None:
        try:
            value = self.redis.get(self._learnt_key)
        except redis.RedisError:
            return None
        try:
            return max(1, int(value)) if value is not None else None
        except (TypeError, ValueError):
            return None


def evotor_pace_for(token: str) -> EvotorPace:
    """The shared pace of one Evotor token, from the app's settings."""
    cfg = current_app.config
    return EvotorPace(get_redis(), token, cfg["EVOTOR_RATE_LIMIT_PER_SECOND"], cfg["EVOTOR_RATE_LEARNT_HOURS"])


def learnt_rate(token: str) -> int | None:
    """The rate Evotor's 429s taught for this token, while remembered (for pages and tests)."""
    return evotor_pace_for(token)._learnt()
