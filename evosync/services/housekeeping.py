"""Daily housekeeping: old sync runs, remembered webhook event ids, and RQ's finished/expired job entries."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from flask import current_app
from rq.registry import FinishedJobRegistry, clean_registries
from rq.worker_registration import clean_worker_registry

from ..extensions import db
from ..models import RunStatus, SyncRun, WebhookEvent, utcnow
from ..queues import QUEUES, get_queue
from .evotor_events.form import QUEUED

log = logging.getLogger(__name__)

BATCH = 1000  # rows per DELETE, so MariaDB never holds a long lock


def _delete_in_batches(model, condition) -> int:
    deleted = 0
    while True:
        ids = db.session.scalars(sa.select(model.id).where(condition).order_by(model.id).limit(BATCH)).all()
        if not ids:
            return deleted
        db.session.execute(sa.delete(model).where(model.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)


def delete_old_runs(keep_days: int, now: dt.datetime | None = None) -> int:
    """Finished runs older than ``keep_days`` (queued or running ones are kept whatever their age)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=keep_days)
    finished = SyncRun.status.not_in((RunStatus.QUEUED, RunStatus.RUNNING))
    return _delete_in_batches(
        SyncRun, sa.and_(finished, sa.func.coalesce(SyncRun.finished_at, SyncRun.created_at) < cutoff)
    )


def delete_old_webhook_events(keep_days: int, now: dt.datetime | None = None) -> int:
    """Event ids older than ``keep_days``: Evotor stopped redelivering them long ago (it tries for 3 days).
    Events still queued are kept whatever their age: they have not been applied yet."""
    cutoff = (now or utcnow()) - dt.timedelta(days=keep_days)
    return _delete_in_batches(WebhookEvent, sa.and_(WebhookEvent.received_at < cutoff, WebhookEvent.status != QUEUED))


def clean_job_registries() -> dict[str, int]:
    """Drop expired entries of RQ's registries and dead workers; abandoned started jobs go to failed (or retry)."""
    cleaned = {}
    for name in QUEUES:
        queue = get_queue(name)
        finished = FinishedJobRegistry(queue=queue)
        before = queue.connection.zcard(finished.key)  # .count would clean first
        clean_registries(queue)
        clean_worker_registry(queue)
        cleaned[name] = before - queue.connection.zcard(finished.key)
    return cleaned


def run_housekeeping(now: dt.datetime | None = None) -> dict[str, Any]:
    config = current_app.config
    result = {
        "runs_deleted": delete_old_runs(config["SYNC_RUNS_KEEP_DAYS"], now),
        "webhook_events_deleted": delete_old_webhook_events(config["WEBHOOK_EVENTS_KEEP_DAYS"], now),
        "finished_jobs_cleaned": clean_job_registries(),
    }
    log.info("housekeeping done", extra=result)
    return result
