"""Fixtures of the client tests: a Redis connection per test (on the run's real redis-server)."""

from __future__ import annotations

import uuid

import pytest
import redis


@pytest.fixture
def redis_client(redis_url):
    """A connection to the test run's Redis (see tests/conftest.py ``redis_url``)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def limiter_key(redis_client):
    """A Redis key no other test uses, deleted afterwards."""
    key = f"evosync:test:ratelimit:{uuid.uuid4().hex}"
    yield key
    redis_client.delete(key)
