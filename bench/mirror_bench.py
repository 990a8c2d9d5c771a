"""Bench 4: mirror refresh of N Evotor products into SQLite and MariaDB (wall, rows/s, peak RSS).

Each run is a fresh process, so one run's memory never inflates the next one's peak: by default
``python -m bench.mirror_bench --child`` (one timed refresh built from bench/mirror_memory.py's pieces: the
sandbox in its own process, RSS sampled every 10 ms in ours); with ``--extras`` the catalog engineer's whole
``bench/mirror_memory.py`` (adds an unchanged re-refresh and search timings, ~40 s more per run).

    python -m bench.mirror_bench --products 50000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from bench.common import ROOT, Services, log, medians

KEYS = (
    "seconds",
    "rows_per_second",
    "rss_peak_mb",
    "rss_growth_mb",
    "unchanged_refresh_seconds",
    "sandbox_seed_seconds",
)


def refresh_once(n_products: int, database_url: str, page_size: int = 1000) -> dict:
    """In this (fresh) process: seed the sandbox, refresh the mirror once under the RSS sampler, drop the merchant."""
    import time
    import uuid

    import requests

    from bench.common import add_merchant, make_app
    from bench.mirror_memory import RssSampler, forget_merchant, rss_mb, running_sandbox

    token = f"bench-{uuid.uuid4().hex}"
    with running_sandbox() as base:
        requests.post(base + "/_sandbox/evotor/settings", json={"page_size": page_size}, timeout=30).raise_for_status()
        requests.post(base + "/_sandbox/evotor/accounts", json={"token": token}, timeout=30).raise_for_status()
        requests.post(
            base + "/_sandbox/evotor/seed",
            json={"token": token, "n_products": n_products, "with_images_ratio": 0.0},
            timeout=600,
        ).raise_for_status()
        app = make_app(database_url, os.environ["REDIS_URL"], base)
        with app.app_context():
            from evosync.extensions import db
            from evosync.services.evotor_catalog import refresh as evotor_catalog

            user_id = add_merchant(token)
            db.session.expire_all()
            baseline = rss_mb()
            t0 = time.perf_counter()
            with RssSampler() as sampler:
                summary = evotor_catalog.mirror_catalog(user_id, image_checks=0)
            seconds = time.perf_counter() - t0
            dialect = forget_merchant(user_id)
    return {
        "n_products": n_products,
        "database": dialect,
        "status": summary.status,
        "products_added": summary.products_added,
        "seconds": round(seconds, 2),
        "rows_per_second": round(summary.products_added / seconds) if seconds else None,
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(sampler.peak, 1),
        "rss_growth_mb": round(sampler.peak - baseline, 1),
    }


def one_run(n_products: int, database_url: str, redis_url: str, extras: bool = False) -> dict:
    """One refresh in a fresh process; its JSON figures."""
    script = [str(ROOT / "bench" / "mirror_memory.py")] if extras else ["-m", "bench.mirror_bench", "--child"]
    done = subprocess.run(
        [sys.executable, *script, "--products", str(n_products), "--database-url", database_url],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"n_products"')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"mirror_memory failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def run(
    services: Services,
    n_products: int,
    runs: int,
    databases: tuple[str, ...] = ("sqlite", "mariadb"),
    extras: bool = False,
) -> dict:
    """{database: {"runs": [...], "median": {...}}}."""
    results = {}
    for database in databases:
        all_runs = []
        for i in range(runs):
            if database == "mariadb":
                services.reset_mariadb()
                url = services.mariadb_url
            else:
                url = services.sqlite_url(f"mirror-{n_products}-{i}")
            log(f"mirror refresh {n_products:,} -> {database} (run {i + 1}/{runs})")
            all_runs.append(one_run(n_products, url, services.redis_url, extras))
        keys = [k for k in KEYS if k in all_runs[0]]
        results[database] = {"products": n_products, "runs": all_runs, "median": medians(all_runs, keys)}
    return results


def judge(results: dict) -> list[dict]:
    rows = []
    for database, result in results.items():
        med = result["median"]
        figure = (
            f"{med['seconds']:.1f} s, {med['rows_per_second']:.0f} rows/s, peak RSS {med['rss_peak_mb']:.0f} MB "
            f"(+{med['rss_growth_mb']:.0f} MB during the refresh)"
        )
        if med.get("unchanged_refresh_seconds") is not None:
            figure += f"; unchanged re-refresh {med['unchanged_refresh_seconds']:.1f} s"
        if database == "sqlite":
            met = med["seconds"] <= 60 and med["rss_peak_mb"] <= 250
            target = "<= 60 s; peak RSS <= 250 MB"
        else:
            met = med["rss_peak_mb"] <= 250
            target = "(time reported); peak RSS <= 250 MB"
        rows.append(
            {
                "what": f"mirror refresh {result['products']:,} -> {database}",
                "target": target,
                "figure": figure,
                "met": met,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database", choices=("sqlite", "mariadb"), action="append")
    parser.add_argument("--extras", action="store_true", help="run bench/mirror_memory.py whole (+ re-refresh, search)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one refresh in this process (started by one_run)
        print(json.dumps(refresh_once(args.products, args.database_url)))
        return 0
    databases = tuple(args.database or ("sqlite", "mariadb"))
    with Services(mariadb="mariadb" in databases) as services:
        results = run(services, args.products, args.runs, databases, args.extras)
    print(json.dumps(results, indent=1))
    for row in judge(results):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
