"""Evotor's pace per token (services/evotor_pace.py), on a real Redis: how a 429 slows a token down."""

from __future__ import annotations

import time
import uuid

from evosync.clients.ratelimit import key_for_token
from evosync.services.evotor_pace import LEARNT_PREFIX, EvotorPace


def test_the_429s_of_requests_in_flight_halve_the_rate_once_and_a_later_one_again(redis_client):
    """Four look-up threads meet Evotor's limit together: their four 429s answer one excess, so the rate halves
    once (20 -> 10), not four times (20 -> 1); a 429 a second later halves it again, and the rate is remembered."""
    token = f"evotor-pace-{uuid.uuid4()}"
    pace = EvotorPace(redis_client, token, ceiling=20, learnt_hours=1)
    try:
        assert [pace.slow_down() for _ in range(4)] == [10, 10, 10, 10]
        time.sleep(1.05)
        assert pace.slow_down() == 5
        assert EvotorPace(redis_client, token, ceiling=20, learnt_hours=1).rate == 5  # another process learns it
    finally:
        redis_client.delete(key_for_token(token, LEARNT_PREFIX))
