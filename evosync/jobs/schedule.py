"""The periodic schedule, as data, reconciled with Redis at scheduler start; the scheduler's heartbeat.

Each entry has a fixed job id (``periodic-<name>``) and a fingerprint (function, interval, timeout, queue)
kept in the job's meta. ``reconcile`` makes rq-scheduler hold exactly these entries: an unchanged entry is
kept (its next run time survives restarts), a changed one is replaced, a missing one added, and every
other repeating job removed. So restarts never duplicate a periodic job and a removed entry disappears.

The VK sync is not an entry of its own: each merchant's catalog refresh asks for that merchant's sync
when it finishes (see services/refreshes.py), so the sync always follows a fresh mirror.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.exceptions import LockError
from rq.job import Job, JobStatus
from rq_scheduler import Scheduler

from .. import locks
from ..heartbeat import record_tick
from ..queues import DEFAULT, HIGH, LOW
from .catalog import drain_catalog_events_job
from .fanout import fanout_catalog_refresh, fanout_vk_refresh
from .housekeeping import housekeeping_job
from .incidents import check_incidents_job
from .orders import POLL_INTERVAL, fanout_vk_orders
from .sync import recover_stalled_syncs_job

log = logging.getLogger(__name__)

JOB_ID_PREFIX = "periodic-"
FINGERPRINT_META = "evosync_schedule"
RECONCILE_LOCK = "scheduler-reconcile"  # locks kind, one for all (owner 0)
RECOVER_INTERVAL = 60
EVENTS_SWEEP_INTERVAL = 60  # the intake wakes the drainer at once; this only catches a wake-up Redis lost
DAY = 24 * 3600


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: what runs, how often (seconds), its timeout (seconds) and queue."""

    name: str
    func: Callable[[], Any]
    interval: int
    timeout: int
    queue: str = DEFAULT
    description: str = ""

    @property
    def job_id(self) -> str:
        return JOB_ID_PREFIX + self.name

    @property
    def fingerprint(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}|{self.interval}|{self.timeout}|{self.queue}"


def periodic_jobs(config: Mapping[str, Any]) -> list[PeriodicJob]:
    """The schedule for this configuration."""
    every = int(config.get("CATALOG_REFRESH_INTERVAL_SECONDS") or 3600)
    return [
        PeriodicJob(
            "refresh_catalog",
            fanout_catalog_refresh,
            every,
            600,
            DEFAULT,
            "Refresh each merchant's Evotor catalog, then sync their VK market",
        ),
        PeriodicJob("refresh_vk_catalog", fanout_vk_refresh, every, 600, DEFAULT, "Refresh each merchant's VK mirror"),
        PeriodicJob(
            "recover_stalled_syncs",
            recover_stalled_syncs_job,
            RECOVER_INTERVAL,
            120,
            DEFAULT,
            "Restart syncs whose worker died",
        ),
        PeriodicJob(
            "apply_catalog_events",
            drain_catalog_events_job,
            EVENTS_SWEEP_INTERVAL,
            600,
            HIGH,
            "Apply queued Evotor catalog events a missed wake-up left behind",
        ),
        PeriodicJob(
            "check_incidents",
            check_incidents_job,
            int(config.get("INCIDENT_CHECK_INTERVAL_SECONDS") or 600),
            600,
            DEFAULT,
            "Open and close merchants' incidents (stalled or failing syncs) and alert them",
        ),
        PeriodicJob(
            "poll_vk_orders",
            fanout_vk_orders,
            POLL_INTERVAL,
            120,
            HIGH,
            "Read new and changed VK orders of merchants with orders on (and queued order callbacks)",
        ),
        PeriodicJob("housekeeping", housekeeping_job, DAY, 1800, LOW, "Delete old runs, event ids and finished jobs"),
    ]


@dataclass
class ReconcileResult:
    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {"added": self.added, "kept": self.kept, "replaced": self.replaced, "removed": self.removed}


def _is_periodic(job: Job) -> bool:
    return job.id.startswith(JOB_ID_PREFIX) or "interval" in job.meta or "cron_string" in job.meta


def _schedule(scheduler: Scheduler, entry: PeriodicJob, first_run: dt.datetime) -> None:
    scheduler.schedule(
        scheduled_time=first_run,
        func=entry.func,
        interval=entry.interval,
        repeat=None,
        timeout=entry.timeout,
        id=entry.job_id,
        description=entry.description or entry.name,
        queue_name=entry.queue,
        # result_ttl stays rq-scheduler's -1: a job hash that expired between runs would drop the entry.
        meta={FINGERPRINT_META: entry.fingerprint},
    )


def _drop(scheduler: Scheduler, job: Job) -> None:
    scheduler.cancel(job)
    if job.get_status(refresh=True) not in (JobStatus.QUEUED, JobStatus.STARTED):
        job.delete()  # a copy waiting in a queue or running finishes; it is not rescheduled any more


def reconcile(scheduler: Scheduler, entries: Sequence[PeriodicJob], now: dt.datetime | None = None) -> ReconcileResult:
    """Make the scheduler hold exactly ``entries`` (see the module docstring); new entries run first at ``now``."""
    now = now or dt.datetime.now(dt.UTC)
    result = ReconcileResult()
    wanted = {entry.job_id: entry for entry in entries}
    if len(wanted) != len(entries):
        raise ValueError("periodic job names must be unique")
    existing = {job.id: job for job in scheduler.get_jobs()}
    for job_id, entry in wanted.items():
        job = existing.get(job_id)
        if job is not None and job.meta.get(FINGERPRINT_META) == entry.fingerprint:
            result.kept.append(entry.name)
            continue
        if job is not None:
            _drop(scheduler, job)
            result.replaced.append(entry.name)
        else:
            result.added.append(entry.name)
        _schedule(scheduler, entry, now)
    for job_id, job in existing.items():
        if job_id not in wanted and _is_periodic(job):
            _drop(scheduler, job)
            result.removed.append(job_id.removeprefix(JOB_ID_PREFIX))
    log.info("periodic jobs reconciled", extra=result.as_dict())
    return result


def scheduled_periodic_ids(scheduler: Scheduler) -> list[str]:
    """The ids of the repeating jobs the scheduler holds (for checks and tests)."""
    return sorted(job.id for job in scheduler.get_jobs() if _is_periodic(job))


class EvoSyncScheduler(Scheduler):
    """rq-scheduler that leaves a heartbeat ("last tick") every time it checks for due jobs."""

    def enqueue_jobs(self):
        jobs = super().enqueue_jobs()
        record_tick(self.connection)
        return jobs


def make_scheduler(connection: redis.Redis, interval: float = 5.0) -> EvoSyncScheduler:
    return EvoSyncScheduler(queue_name=DEFAULT, connection=connection, interval=interval)


def reconcile_schedule(connection: redis.Redis, config: Mapping[str, Any]) -> ReconcileResult:
    """Reconcile under a Redis lock, so two schedulers starting together do not race."""
    with locks.merchant_lock(RECONCILE_LOCK, 0, ttl=60, connection=connection, wait=60) as held:
        if not held:
            raise LockError("another scheduler is still reconciling the schedule")
        return reconcile(make_scheduler(connection), periodic_jobs(config))


def run_scheduler(connection: redis.Redis, config: Mapping[str, Any], interval: float = 5.0) -> None:
    """Reconcile, then move due jobs to their queues every ``interval`` seconds until stopped."""
    result = reconcile_schedule(connection, config)
    scheduler = make_scheduler(connection, interval)
    log.info("scheduler starting", extra={"interval": interval, **result.as_dict()})
    scheduler.run()
