"""Where a request's time goes: the products page and one catalog webhook, in-process, one at a time.

Builds the same MariaDB target as bench/load_bench.py (an N-product store, mirrored by the real refresh) but
serves it through Flask's test client in this process, so each request's CPU time (``time.process_time``)
and wall time (which includes MariaDB's share) can be read, and a pyinstrument profile written. This is the
"profile, fix, show before and after" tool of issue 12; bench/RESULTS.md quotes its figures.

    python -m bench.profile_requests --products 50000 --requests 300 [--html /tmp/profile]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time

from bench.common import PASSWORD, Services, log, make_app
from bench.load_bench import WEBHOOK_SECRET, LoadTarget
from bench.webhook_bench import PATH as EVENTS_PATH
from bench.webhook_bench import write_events


class _InProcessTarget(LoadTarget):
    """LoadTarget without gunicorn: the database is prepared, the app is served by the test client."""

    def __enter__(self) -> _InProcessTarget:
        self._prepare()
        return self

    def __exit__(self, *exc) -> None:
        return None


def _measure(name: str, send, count: int, html: str | None) -> dict:
    for _ in range(min(20, count)):  # warm-up: compiled templates, connection pool, statement caches
        send()
    profiler = None
    if html:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    cpu, wall = [], []
    for _ in range(count):
        c0, w0 = time.process_time(), time.perf_counter()
        send()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    if profiler is not None:
        profiler.stop()
        path = f"{html}-{name.replace(' ', '-')}.html"
        with open(path, "w") as out:
            out.write(profiler.output_html())
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
        with open(f"{html}-{name.replace(' ', '-')}.txt", "w") as out:
            out.write(profiler.output_text(unicode=False, color=False, show_all=True))
        log(f"profile written to {path}")
    figures = {
        "requests": count,
        "cpu_ms_median": round(statistics.median(cpu), 2),
        "wall_ms_median": round(statistics.median(wall), 2),
        "wall_ms_p95": round(sorted(wall)[int(0.95 * (count - 1))], 2),
    }
    log(f"{name}: {figures}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--html", help="write pyinstrument profiles to <HTML>-<name>.html")
    args = parser.parse_args(argv)
    with Services(mariadb=True) as services, _InProcessTarget(services, args.products) as target:
        gc.collect()  # the set-up's refresh leaves garbage a fresh gunicorn worker would not carry
        app = make_app(
            services.mariadb_url,
            services.redis_url,
            EVOTOR_WEBHOOK_SECRET=WEBHOOK_SECRET,
            LOG_LEVEL="WARNING",
            RUN_JOBS_INLINE=False,
        )
        app.config.update(WTF_CSRF_ENABLED=False, SESSION_COOKIE_SECURE=False)
        client = app.test_client()
        answer = client.post("/login", data={"email": target.email, "password": PASSWORD})
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"login failed: HTTP {answer.status_code}")
        page_url = f"/catalog/stores/{target.store_id}/products"

        def page():
            answer = client.get(page_url)
            assert answer.status_code == 200, answer.status_code

        with tempfile.TemporaryDirectory() as directory:
            lines = write_events(target, args.requests + 40, directory).read_text().splitlines()
        events = iter(line.split("\t", 1) for line in lines)

        evotor = app.test_client()  # Evotor sends no session cookie

        def event():
            signature, body = next(events)
            answer = evotor.post(
                EVENTS_PATH, data=body, headers={"X-Hub-Signature": signature, "Content-Type": "application/json"}
            )
            assert answer.status_code == 200, (answer.status_code, answer.get_data(as_text=True))

        results = {
            "products page": _measure("products page", page, args.requests, args.html),
            "webhook": _measure("webhook", event, args.requests, args.html),
        }
    for name, figures in results.items():
        print(name, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
