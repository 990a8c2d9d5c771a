"""The periodic schedule, as data, reconciled with Redis at scheduler start."""

from __future__ import annotations

import logging

from flask import current_app
from rq_scheduler import Scheduler

from ..redis_conn import get_redis

log = logging.getLogger(__name__)


def run_scheduler(interval: float = 5.0) -> None:
    scheduler = Scheduler(queue_name="default", connection=get_redis(), interval=interval)
    log.info("scheduler starting", extra={"interval": interval, "app": current_app.name})
    scheduler.run()
