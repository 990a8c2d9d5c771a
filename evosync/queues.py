"""The one place that knows queue names, timeouts, retries and job titles, and the way any layer asks for a job.

A job is named by its dotted path (``"evosync.jobs.sync.sync_job"``) or passed as the function. Services name
it: they sit below the jobs (which call them) and never import them; the queue is the seam between the two.
``tests/foundation/test_architecture.py`` checks that every job named in ``evosync/`` exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from rq import Queue, Retry
from rq.job import Job
from rq.utils import import_attribute

from . import locks
from .redis_conn import get_redis

log = logging.getLogger(__name__)

HIGH = "high"  # merchant- and webhook-triggered work
DEFAULT = "default"  # scheduled work
LOW = "low"  # mail and housekeeping
QUEUES = (HIGH, DEFAULT, LOW)


def get_queue(name: str = DEFAULT) -> Queue:
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


Jobish = Callable[..., Any] | str  # a job function, or its dotted path under evosync.jobs


def job_name(func: Jobish) -> str:
    return func.rsplit(".", 1)[-1] if isinstance(func, str) else func.__name__


def _run_inline(func: Jobish, *args: Any, **kwargs: Any) -> None:
    (import_attribute(func) if isinstance(func, str) else func)(*args, **kwargs)


def enqueue(
    func: Jobish,
    *args: Any,
    queue: str = DEFAULT,
    title: str | None = None,
    job_id: str | None = None,
    timeout: int = 600,
    retries: int = 0,
    retry_intervals: tuple[int, ...] = (10, 60, 300),
    at_front: bool = False,
    **kwargs: Any,
) -> Job | None:
    """Enqueue a job (its function or dotted path), or run it inline when RUN_JOBS_INLINE is set.

    ``at_front``: ahead of the jobs already waiting in that queue (a short job that must not wait behind syncs).

    Returns the RQ job, or None when it ran inline.
    """
    if current_app.config.get("RUN_JOBS_INLINE"):
        log.info("job inline", extra={"job": job_name(func), "title": title or job_name(func)})
        _run_inline(func, *args, **kwargs)
        return None
    return get_queue(queue).enqueue(
        func, *args, **_job_options(func, title, job_id, timeout, retries, retry_intervals), at_front=at_front, **kwargs
    )


def enqueue_in(
    delay_seconds: float,
    func: Jobish,
    *args: Any,
    queue: str = DEFAULT,
    title: str | None = None,
    job_id: str | None = None,
    timeout: int = 600,
    retries: int = 0,
    retry_intervals: tuple[int, ...] = (10, 60, 300),
    **kwargs: Any,
) -> Job | None:
    """Enqueue ``delay_seconds`` from now (inline: run now).

    RQ's own scheduler, which the workers run (``worker.py`` starts it), moves the job to its queue
    when due; the same scheduler moves retried jobs back after their backoff.
    """
    if current_app.config.get("RUN_JOBS_INLINE"):
        log.info("job inline (delay skipped)", extra={"job": job_name(func), "title": title or job_name(func)})
        _run_inline(func, *args, **kwargs)
        return None
    return get_queue(queue).enqueue_in(
        dt.timedelta(seconds=max(0.0, delay_seconds)),
        func,
        *args,
        **_job_options(func, title, job_id, timeout, retries, retry_intervals),
        **kwargs,
    )


def _job_options(
    func: Jobish,
    title: str | None,
    job_id: str | None,
    timeout: int,
    retries: int,
    retry_intervals: tuple[int, ...],
) -> dict[str, Any]:
    # Retries back off along retry_intervals (the last one repeats); failed jobs stay a week for rq-dashboard.
    retry = Retry(max=retries, interval=list(retry_intervals[:retries]) or 0) if retries else None
    return {
        "job_id": job_id,
        "job_timeout": timeout,
        "retry": retry,
        "description": title or job_name(func),
        "failure_ttl": 7 * 24 * 3600,
        "result_ttl": 24 * 3600,
    }


def enqueue_once(kind: str, user_id: int, func: Jobish, *args: Any, queued_ttl: int, **options: Any) -> str | None:
    """Enqueue ``func(user_id, *args)`` unless a job of this kind is queued or running for the merchant.

    None when it was queued, else why not (``"refresh catalog already queued"``). The "queued" marker
    (evosync/locks.py) is cleared by the job when it starts, so a request made while it runs is refused while
    the lock is held, and one made after it ends queues again.
    """
    state = locks.busy(kind, user_id)
    if state is not None or not locks.mark_queued(kind, user_id, queued_ttl):
        return f"{kind.replace('_', ' ')} already {state or locks.QUEUED}"
    try:
        enqueue(func, user_id, *args, **options)
    except Exception:
        locks.clear_queued(kind, user_id)
        raise
    return None
