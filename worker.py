"""An RQ worker with an app context, on the high, default and low queues (in that order of priority).

Run as many as needed, on as many hosts as needed: they share the queues through Redis, and per-merchant
locks keep one merchant's refresh or sync from running twice at once. Each job runs in a forked work
horse; the database engine is disposed before the fork (the parent keeps no connection a child could
share) and again, without closing, in the child (SQLAlchemy's advice for forked processes).

Every worker also runs RQ's own scheduler (one of them at a time holds its lock): it moves delayed jobs
(retries after their backoff, the debounced sync after catalog events) into their queues.

    python worker.py                  # all queues
    python worker.py --queues high    # only merchant- and webhook-triggered work
    python worker.py --burst          # work until the queues are empty, then exit
"""

from __future__ import annotations

import argparse
import logging

import redis
from rq import Worker

from evosync import create_app_or_exit
from evosync.extensions import db
from evosync.queues import QUEUES

log = logging.getLogger("evosync.worker")


class AppWorker(Worker):
    """Disposes the database engine around forks, so no connection is shared between processes."""

    def execute_job(self, job, queue):
        db.engine.dispose()
        return super().execute_job(job, queue)

    def main_work_horse(self, job, queue):
        db.engine.dispose(close=False)  # the parent's pooled connections are not ours to close
        return super().main_work_horse(job, queue)


def worker_connection(url: str) -> redis.Redis:
    """The worker's own Redis connection: RQ sets its socket timeout above its blocking BLPOP wait,
    which must not leak into the app's shared client (short timeouts for pages and /health)."""
    return redis.Redis.from_url(url)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queues", nargs="*", default=list(QUEUES), choices=list(QUEUES))
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument(
        "--no-scheduler",
        dest="with_scheduler",
        action="store_false",
        help="do not run RQ's scheduler for delayed jobs (retries, debounced syncs) in this worker",
    )
    parser.add_argument("--name", default=None, help="worker name (default: host and pid)")
    parser.add_argument("--logging-level", default="WARNING")
    args = parser.parse_args(argv)
    app = create_app_or_exit()
    with app.app_context():
        connection = worker_connection(app.config["REDIS_URL"])
        worker = AppWorker(args.queues, connection=connection, name=args.name)
        log.info("worker starting", extra={"queues": args.queues, "burst": args.burst, "worker": worker.name})
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler, logging_level=args.logging_level)


if __name__ == "__main__":
    main()
