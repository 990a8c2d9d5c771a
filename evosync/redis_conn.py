"""One Redis connection pool per app, from REDIS_URL."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def make_redis(url: str) -> redis.Redis:
    """Short timeouts and few retries: when Redis is down, pages and /health say so quickly."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
    )


def init_redis(app: Flask) -> None:
    app.extensions["evosync_redis"] = make_redis(app.config["REDIS_URL"])


def get_redis(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["evosync_redis"]
