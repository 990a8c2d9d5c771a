"""The Redis sliding-window limiter: at most ``rate`` grants per window, shared by all users of a key."""

from __future__ import annotations

import threading
import time

import redis

from evosync.clients.ratelimit import NullLimiter, RateLimiter, key_for_token


def test_first_grants_are_immediate_then_the_next_waits_for_the_window(redis_client, limiter_key):
    """3 slots are granted at once; the 4th only after the oldest leaves the (per + margin) window."""
    limiter = RateLimiter(redis_client, limiter_key, rate=3, per=0.4, margin=0.05)
    started = time.monotonic()
    for _ in range(3):
        assert limiter.acquire()
    assert time.monotonic() - started < 0.2
    assert limiter.acquire()
    assert time.monotonic() - started >= 0.45


def test_acquire_gives_up_after_timeout(redis_client, limiter_key):
    """With every slot taken, acquire(timeout) returns None after about that long instead of blocking."""
    limiter = RateLimiter(redis_client, limiter_key, rate=2, per=5.0)
    assert limiter.acquire() and limiter.acquire()
    started = time.monotonic()
    assert limiter.acquire(timeout=0.2) is None
    assert 0.15 <= time.monotonic() - started < 1.0


def test_slot_context_raises_on_timeout(redis_client, limiter_key):
    """``with limiter.slot(timeout)`` refuses to run the block when no slot came in time."""
    limiter = RateLimiter(redis_client, limiter_key, rate=1, per=5.0)
    with limiter.slot():
        pass
    ran = False
    try:
        with limiter.slot(timeout=0.1):
            ran = True
    except TimeoutError:
        pass
    assert not ran


def test_finish_counts_the_window_from_the_answer(redis_client, limiter_key):
    """A slot finished 0.3 s after its grant holds its place until 0.3 s + window, not window."""
    limiter = RateLimiter(redis_client, limiter_key, rate=1, per=0.4, margin=0.0)
    started = time.monotonic()
    slot = limiter.acquire()
    time.sleep(0.3)  # the request is "in flight"
    limiter.finish(slot)
    assert limiter.acquire()
    assert time.monotonic() - started >= 0.7


def test_two_limiters_on_one_key_share_the_budget(redis_url, limiter_key):
    """Separate connections (as separate processes would have) draw from one budget."""
    first = RateLimiter(redis.Redis.from_url(redis_url), limiter_key, rate=2, per=5.0)
    second = RateLimiter(redis.Redis.from_url(redis_url), limiter_key, rate=2, per=5.0)
    assert first.acquire(timeout=0)
    assert second.acquire(timeout=0)
    assert first.acquire(timeout=0) is None
    assert second.acquire(timeout=0) is None


def test_different_keys_do_not_share(redis_client, limiter_key):
    """Each token has its own budget."""
    one = RateLimiter(redis_client, limiter_key, rate=1, per=5.0)
    other = RateLimiter(redis_client, limiter_key + ":other", rate=1, per=5.0)
    try:
        assert one.acquire(timeout=0)
        assert other.acquire(timeout=0)
    finally:
        redis_client.delete(limiter_key + ":other")


def test_threads_hammering_never_exceed_rate_in_any_window(redis_client, limiter_key):
    """6 threads competing for 3 slots per 0.3 s: no 0.3 s window ever holds more than 3 grants.

    Each try is one atomic script call, so its grant happened between the clock readings just before and just after
    it. A window breach is counted only when 4 such intervals fit inside 0.3 s together: on a starved CPU the
    intervals widen and nothing is counted wrongly; on a quiet one they are a fraction of a millisecond wide."""
    limiter = RateLimiter(redis_client, limiter_key, rate=3, per=0.3, margin=0.0)
    grants: list[tuple[float, float]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 1.5

    def hammer():
        while time.monotonic() < stop_at:
            before = time.monotonic()
            slot = limiter.acquire(timeout=0)  # one try: one script call
            after = time.monotonic()
            if slot is None:
                time.sleep(0.005)
                continue
            with lock:
                grants.append((before, after))

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    surely_together = max(sum(1 for b, a in grants if b >= start and a < start + 0.3) for start, _ in grants)
    assert surely_together <= 3, sorted(grants)
    assert len(grants) >= 12  # ~5 windows x 3: the limiter does not starve anyone needlessly


def test_key_is_a_hash_not_the_token():
    """The Redis key never contains the token; the same token always maps to the same key."""
    token = "vk1.a.secret-user-token-value"
    key = key_for_token(token)
    assert token not in key
    assert key == key_for_token(token)
    assert key != key_for_token(token + "x")


def test_for_token_uses_the_hashed_key(redis_client):
    """RateLimiter.for_token keys the budget by the token's hash."""
    limiter = RateLimiter.for_token(redis_client, "some-token", rate=1, per=5.0)
    try:
        assert limiter.key == key_for_token("some-token")
        assert limiter.acquire(timeout=0)
        assert redis_client.zcard(limiter.key) == 1
    finally:
        redis_client.delete(limiter.key)


def test_null_limiter_never_blocks():
    """NullLimiter grants as fast as asked."""
    limiter = NullLimiter()
    started = time.monotonic()
    for _ in range(1000):
        limiter.finish(limiter.acquire())
    assert time.monotonic() - started < 0.5
