"""GET /health: is the app, its database and its Redis alive; queue depths, live workers, scheduler's last tick."""

from __future__ import annotations

import datetime as dt
import logging
import time

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from rq.worker_registration import REDIS_WORKER_KEYS

from .. import openapi
from ..extensions import db
from ..heartbeat import LAST_TICK_KEY
from ..queues import QUEUES
from ..redis_conn import get_redis

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


def check_database() -> str:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return "ok"
    except Exception as exc:  # any driver error means "down" here
        log.warning("health: database unreachable", extra={"error": type(exc).__name__})
        db.session.rollback()
        return "error"


def check_redis() -> str:
    try:
        get_redis().ping()
        return "ok"
    except Exception as exc:
        log.warning("health: redis unreachable", extra={"error": type(exc).__name__})
        return "error"


def job_stats() -> dict:
    """Queue depths, live workers and the scheduler's last tick, in two pipelined round trips.

    Informational only: a stopped scheduler or no worker does not make /health fail (only the
    database and Redis do), but an operator sees it here.
    """
    try:
        redis = get_redis()
        pipe = redis.pipeline(transaction=False)
        for name in QUEUES:
            pipe.llen(f"rq:queue:{name}")
        pipe.smembers(REDIS_WORKER_KEYS)
        pipe.get(LAST_TICK_KEY)
        *depths, worker_keys, tick = pipe.execute()
        alive = 0
        if worker_keys:
            pipe = redis.pipeline(transaction=False)
            for key in worker_keys:
                pipe.exists(key)  # a killed worker stays in the set until cleanup; its own key expires
            alive = sum(pipe.execute())
    except Exception as exc:
        log.warning("health: job stats unavailable", extra={"error": type(exc).__name__})
        return {"queues": None, "workers": None, "scheduler": None}
    last = float(tick) if tick else None
    return {
        "queues": dict(zip(QUEUES, depths, strict=True)),
        "workers": alive,
        "scheduler": {
            "last_tick": dt.datetime.fromtimestamp(last, dt.UTC).isoformat() if last else None,
            "seconds_ago": round(time.time() - last, 1) if last else None,
        },
    }


@bp.get("/health")
def health():
    checks = {"database": check_database(), "redis": check_redis()}
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "error", **checks, "version": current_app.config["VERSION"]}
    if checks["redis"] == "ok":
        body.update(job_stats())
    return jsonify(body), 200 if ok else 503


def _document() -> None:
    """Re-register /health in the OpenAPI registry with the job figures (replaces the built-in entry)."""
    schema = {
        "type": "object",
        "required": ["status", "database", "redis"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "error"]},
            "database": {"type": "string", "enum": ["ok", "error"]},
            "redis": {"type": "string", "enum": ["ok", "error"]},
            "version": {"type": "string"},
            "queues": {
                "type": "object",
                "nullable": True,
                "description": "Jobs waiting per queue (high, default, low)",
                "additionalProperties": {"type": "integer"},
            },
            "workers": {"type": "integer", "nullable": True, "description": "Live RQ workers"},
            "scheduler": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "last_tick": {"type": "string", "format": "date-time", "nullable": True},
                    "seconds_ago": {"type": "number", "nullable": True},
                },
            },
        },
    }
    openapi.register_path(
        "/health",
        "get",
        {
            "tags": ["Service"],
            "summary": "Is the app, its database and its Redis alive; queue depths, workers, scheduler's last tick",
            "description": "503 only when the database or Redis is down; the job figures are informational "
            "(absent when Redis is down).",
            "responses": {
                status: {"description": text, "content": {"application/json": {"schema": schema}}}
                for status, text in (("200", "Database and Redis are up"), ("503", "Database or Redis is down"))
            },
        },
    )


_document()
