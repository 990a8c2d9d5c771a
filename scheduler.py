"""rq-scheduler: registers the periodic jobs declared in evosync.jobs.schedule, then runs them on time."""

from __future__ import annotations

import argparse
import logging

from evosync import create_app

log = logging.getLogger("evosync.scheduler")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between scheduler ticks")
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        from evosync.jobs.schedule import run_scheduler

        run_scheduler(interval=args.interval)


if __name__ == "__main__":
    main()
