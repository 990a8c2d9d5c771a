"""Proof that the Redis limiter holds across OS processes: two of them share one VK token at 3 req/s.

The VK emulator enforces VK's rule (3 requests in any sliding 1 s window per token, else error 6).
Two separately spawned processes hammer the same token through ``RateLimiter`` for
EVOSYNC_LIMITER_SECONDS (default 6; the issue's recorded run used 30). The emulator must never
answer error 6, and together they must still get close to the allowed rate (>= 2.5 req/s).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time

from evosync.clients.errors import VkApiError, VkTooManyRequests

TOKEN = "vk1.a.shared-by-two-processes"
GROUP = 900001


def _hammer(redis_url: str, vk_url: str, seconds: float, barrier, results) -> None:
    """One worker process: as many groups.getById calls as the shared limiter allows, for ``seconds``."""
    import redis

    from evosync.clients.ratelimit import RateLimiter
    from evosync.clients.vk import VkClient

    limiter = RateLimiter.for_token(redis.Redis.from_url(redis_url), TOKEN)
    # max_retries=0: any error 6 surfaces here instead of being hidden by the client's retry.
    client = VkClient(TOKEN, vk_url, limiter=limiter, max_retries=0)
    counts = {"ok": 0, "error_6": 0, "other_errors": 0}
    barrier.wait(timeout=60)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            client.call("groups.getById", group_id=GROUP)
            counts["ok"] += 1
        except VkTooManyRequests:
            counts["error_6"] += 1
        except VkApiError:
            counts["other_errors"] += 1
    counts["requests_made"] = client.requests_made
    results.put(counts)


def test_two_processes_share_one_token_without_error_6(sandbox, redis_url, record_property):
    """2 spawned processes on one token: 0 errors 6 at the emulator, >= 2.5 req/s achieved together."""
    import redis

    from evosync.clients.ratelimit import key_for_token

    seconds = float(os.environ.get("EVOSYNC_LIMITER_SECONDS", "6"))
    sandbox.vk.add_user(TOKEN)
    sandbox.vk.add_community(GROUP, "Общий магазин", admin_tokens=(TOKEN,))
    assert sandbox.vk.rate_limit_enabled and sandbox.vk.rate_limit == 3 and sandbox.vk.rate_window == 1.0
    redis.Redis.from_url(redis_url).delete(key_for_token(TOKEN))

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    results = context.Queue()
    workers = [
        context.Process(target=_hammer, args=(redis_url, sandbox.vk_url, seconds, barrier, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=60)  # both processes are up: start the clock together
    started = time.monotonic()
    counts = [results.get(timeout=seconds + 60) for _ in workers]
    elapsed = time.monotonic() - started
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0

    stats = sandbox.vk.stats
    total = sum(c["requests_made"] for c in counts)
    summary = {
        "seconds": seconds,
        "elapsed": round(elapsed, 2),
        "total_requests": total,
        "per_process": [c["ok"] for c in counts],
        "error_6_clients": sum(c["error_6"] for c in counts),
        "error_6_emulator": stats["errors"].get("6", 0),
        "achieved_rps": round(total / elapsed, 3),
        "steady_rps": round((total - 3) / elapsed, 3),  # without the 3 free requests at t=0
    }
    print("limiter proof:", json.dumps(summary))
    record_property("limiter_proof", json.dumps(summary))

    assert summary["error_6_emulator"] == 0 and summary["error_6_clients"] == 0
    assert sum(c["other_errors"] for c in counts) == 0
    assert stats["requests"] == total  # every request the processes sent reached the emulator
    assert all(c["ok"] > 0 for c in counts)  # both processes really took part
    assert summary["achieved_rps"] >= 2.5
    assert summary["achieved_rps"] <= 3.0 + 3 / elapsed  # never above the rule (3 free at t=0)
