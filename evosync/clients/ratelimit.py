"""A request-rate limiter shared through Redis by every process and host using the same VK token.

VK allows 3 requests per second per user token (https://dev.vk.com/en/api/api-requests#Limits):
every worker must draw from one budget, so the budget lives in Redis, not in a process.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis

# Sliding-window log: a ZSET of slot stamps (microseconds of Redis server TIME, so host clocks never
# matter). Trim stamps older than the window; grant a slot if fewer than ``limit`` remain, else answer
# how many microseconds until the oldest one leaves the window. One script = one atomic step.
_ACQUIRE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return wait
"""

# Re-stamp a granted slot with the time its request finished. The server saw the request somewhere
# between the grant and the answer, so counting the window from the answer means network and
# scheduling delays can never squeeze 4 requests into the server's 1-second window.
_FINISH_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) / 1000) + 1000)
return 1
"""

KEY_PREFIX = "evosync:ratelimit:vk:"


def key_for_token(token: str, prefix: str = KEY_PREFIX) -> str:
    """The Redis key of a token's budget: a hash of the token, never the token itself."""
    return prefix + hashlib.sha256(token.encode()).hexdigest()[:32]


class Limiter(Protocol):
    """What the VK client needs from a limiter: take a slot before a request, finish it after the answer."""

    def acquire(self, timeout: float | None = None) -> str | None: ...

    def finish(self, slot: str | None) -> None: ...


class RateLimiter:
    """At most ``rate`` requests in any window of ``per + margin`` seconds, across processes and hosts.

    ``acquire`` blocks until a slot is free and returns a slot id; ``finish(slot)`` after the answer
    moves the slot's stamp to that moment (see ``_FINISH_LUA``). ``slot()`` does both around a block.
    """

    def __init__(self, redis_client: redis.Redis, key: str, rate: int = 3, per: float = 1.0, margin: float = 0.05):
        if rate < 1 or per <= 0 or margin < 0:
            raise ValueError("rate must be >= 1, per > 0 and margin >= 0")
        self.redis = redis_client
        self.key = key
        self.rate = int(rate)
        self.window_us = int(round((per + margin) * 1_000_000))
        self._acquire = redis_client.register_script(_ACQUIRE_LUA)
        self._finish = redis_client.register_script(_FINISH_LUA)

    @classmethod
    def for_token(cls, redis_client: redis.Redis, token: str, **kwargs) -> RateLimiter:
        """The limiter every process shares for one VK token."""
        return cls(redis_client, key_for_token(token), **kwargs)

    def acquire(self, timeout: float | None = None) -> str | None:
        """Wait for a free slot and take it; the slot id, or None if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        slot = uuid.uuid4().hex
        while True:
            wait_us = int(self._acquire(keys=[self.key], args=[self.window_us, self.rate, slot]))
            if wait_us == 0:
                return slot
            wait = wait_us / 1_000_000
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = min(wait, left)
            time.sleep(wait)

    def finish(self, slot: str | None) -> None:
        """Mark the request sent under ``slot`` as answered: the window now counts from this moment."""
        if slot:
            self._finish(keys=[self.key], args=[self.window_us, slot])

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[str | None]:
        """``with limiter.slot(): send()`` — acquire before, finish after (even on error)."""
        taken = self.acquire(timeout)
        if taken is None:
            raise TimeoutError(f"no rate-limit slot within {timeout} s")
        try:
            yield taken
        finally:
            self.finish(taken)


class NullLimiter:
    """No limit at all (tests with the emulator's limit off, community tokens, scripts)."""

    def acquire(self, timeout: float | None = None) -> str:
        return "unlimited"

    def finish(self, slot: str | None) -> None:
        return None

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[str]:
        yield "unlimited"
