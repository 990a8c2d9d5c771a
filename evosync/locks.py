"""The one lock scheme: per-merchant Redis locks with TTLs (renewed while held) and "already queued" markers.

A kind of work runs at most once at a time per merchant: ``sync`` (the sync runner), ``refresh_catalog`` (the
Evotor mirror), ``vk_catalog`` (the VK mirror), ``vk_orders`` (reading orders), ``catalog_events`` (the event
drainer, one for all), ``poll_vk_orders`` and ``refresh_vk_catalog`` (their queued jobs), ``vkid-refresh`` (a VK ID
token refresh, per connection):

* ``evosync:queued:<kind>:<user_id>`` — set when a job is enqueued, cleared when it starts. While it exists
  a second request is "already queued" and adds nothing. It expires after ``queued_ttl`` in case the job
  was lost (a flushed Redis), so a merchant is never blocked for good.
* ``evosync:lock:<kind>:<user_id>`` — held while the job runs, with a TTL of ``JOB_LOCK_TTL_SECONDS``
  that a background thread renews every third of it. A killed worker stops renewing, so its lock runs out
  and the next run proceeds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import current_app
from redis.exceptions import LockError, RedisError

from .redis_conn import get_redis

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL = 300
LOCK_KEY = "evosync:lock:{kind}:{user_id}"
QUEUED_KEY = "evosync:queued:{kind}:{user_id}"

QUEUED = "queued"
RUNNING = "running"


def lock_ttl() -> int:
    """Seconds a lock outlives its last renewal (JOB_LOCK_TTL_SECONDS)."""
    return int(current_app.config.get("JOB_LOCK_TTL_SECONDS") or DEFAULT_LOCK_TTL)


def lock_key(kind: str, user_id: int) -> str:
    return LOCK_KEY.format(kind=kind, user_id=user_id)


def queued_key(kind: str, user_id: int) -> str:
    return QUEUED_KEY.format(kind=kind, user_id=user_id)


def mark_queued(kind: str, user_id: int, ttl: int, connection: redis.Redis | None = None) -> bool:
    """Claim "a job of this kind is queued for this merchant"; False when one already is."""
    return bool((connection or get_redis()).set(queued_key(kind, user_id), "1", nx=True, ex=max(1, int(ttl))))


def clear_queued(kind: str, user_id: int, connection: redis.Redis | None = None) -> None:
    (connection or get_redis()).delete(queued_key(kind, user_id))


def busy(kind: str, user_id: int, connection: redis.Redis | None = None) -> str | None:
    """``queued`` or ``running`` when a job of this kind is waiting or running for the merchant, else None."""
    pipe = (connection or get_redis()).pipeline(transaction=False)
    pipe.exists(queued_key(kind, user_id))
    pipe.exists(lock_key(kind, user_id))
    is_queued, is_locked = pipe.execute()
    if is_queued:
        return QUEUED
    if is_locked:
        return RUNNING
    return None


def is_locked(kind: str, user_id: int, connection: redis.Redis | None = None) -> bool:
    return bool((connection or get_redis()).exists(lock_key(kind, user_id)))


class _Renewer(threading.Thread):
    """Extends a lock every third of its TTL until stopped; dies with the process, so the lock then expires."""

    def __init__(self, lock: redis.lock.Lock, ttl: int, name: str):
        super().__init__(name=f"lock-renewer:{name}", daemon=True)
        self.lock = lock
        self.ttl = ttl
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(max(0.2, self.ttl / 3)):
            try:
                self.lock.extend(self.ttl, replace_ttl=True)
            except (LockError, RedisError) as exc:
                log.warning("lock renewal failed", extra={"lock": self.name, "error": type(exc).__name__})
                return


@contextmanager
def merchant_lock(
    kind: str, user_id: int, ttl: int | None = None, connection: redis.Redis | None = None, *, wait: float = 0
) -> Iterator[bool]:
    """Hold the merchant's lock of this kind for the block; yields False (and holds nothing) if it is taken
    (after waiting up to ``wait`` seconds for it). ``user_id`` names the owner of the lock: a merchant, or
    another id the kind is about (a VK connection's, for its token refresh).

    >>> with merchant_lock("refresh_catalog", 7) as held:   # doctest: +SKIP
    ...     if not held:
    ...         return "already running"
    """
    ttl = int(ttl or lock_ttl())
    key = lock_key(kind, user_id)
    # thread_local=False: the renewer thread extends a token the job's thread acquired.
    lock = (connection or get_redis()).lock(
        key, timeout=ttl, blocking=wait > 0, blocking_timeout=wait if wait > 0 else None, thread_local=False
    )
    if not lock.acquire():
        yield False
        return
    renewer = _Renewer(lock, ttl, key)
    renewer.start()
    try:
        yield True
    finally:
        renewer.stopped.set()
        renewer.join(timeout=5)
        try:
            lock.release()
        except LockError:
            log.warning("lock expired before release", extra={"lock": key})
