"""One Redis connection pool per app, from REDIS_URL."""

from __future__ import annotations

import redis
from flask import Flask, current_app


def init_redis(app: Flask) -> None:
    app.extensions["evosync_redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def get_redis(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["evosync_redis"]
