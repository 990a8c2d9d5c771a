"""An RQ worker with an app context, on the high, default and low queues (in that order of priority)."""

from __future__ import annotations

import argparse
import logging

from rq import Worker

from evosync import create_app
from evosync.extensions import db
from evosync.jobs.queues import QUEUES, get_queue

log = logging.getLogger("evosync.worker")


class AppWorker(Worker):
    """Disposes the database engine around forks, so no connection is shared between processes."""

    def execute_job(self, job, queue):
        db.engine.dispose()
        return super().execute_job(job, queue)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", nargs="*", default=list(QUEUES))
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    parser.add_argument("--with-scheduler", action="store_true")
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        queues = [get_queue(name) for name in args.queues]
        worker = AppWorker(queues, connection=queues[0].connection)
        log.info("worker starting", extra={"queues": args.queues})
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler, logging_level="WARNING")


if __name__ == "__main__":
    main()
