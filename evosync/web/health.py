"""GET /health: is the app, its database and its Redis alive."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from ..extensions import db
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


@bp.get("/health")
def health():
    checks = {"database": check_database(), "redis": check_redis()}
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ok else "error", **checks, "version": current_app.config["VERSION"]}
    return jsonify(body), 200 if ok else 503
