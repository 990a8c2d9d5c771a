"""rq-scheduler: reconciles the periodic jobs declared in evosync.jobs.schedule with Redis, then runs them on time.

    python scheduler.py                    # reconcile, then tick every SCHEDULER_INTERVAL_SECONDS
    python scheduler.py --reconcile-only   # reconcile and exit (e.g. at deploy)

Two schedulers may run (e.g. for failover): rq-scheduler's lock lets one of them move jobs at a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from evosync import create_app_or_exit

log = logging.getLogger("evosync.scheduler")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--interval", type=float, default=None, help="seconds between scheduler ticks")
    parser.add_argument("--reconcile-only", action="store_true", help="reconcile the periodic jobs and exit")
    args = parser.parse_args(argv)
    app = create_app_or_exit()
    with app.app_context():
        from evosync.jobs.schedule import reconcile_schedule, run_scheduler
        from evosync.redis_conn import get_redis

        connection = get_redis()
        if args.reconcile_only:
            result = reconcile_schedule(connection, app.config)
            sys.stdout.write(json.dumps(result.as_dict()) + "\n")
            return
        interval = args.interval if args.interval is not None else app.config["SCHEDULER_INTERVAL_SECONDS"]
        run_scheduler(connection, app.config, interval=max(0.1, interval))


if __name__ == "__main__":
    main()
