"""Bench 4: mirror refresh of N Evotor products into SQLite and MariaDB (wall, rows/s, peak RSS).

Each run is a fresh ``python bench/mirror_memory.py`` process (the catalog engineer's script: the sandbox in
its own process, RSS sampled every 10 ms in ours), so one run's memory never inflates the next one's peak.

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


def one_run(n_products: int, database_url: str, redis_url: str) -> dict:
    """One refresh in a fresh process; the script's JSON figures."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "mirror_memory.py"),
            "--products",
            str(n_products),
            "--database-url",
            database_url,
        ],
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


def run(services: Services, n_products: int, runs: int, databases: tuple[str, ...] = ("sqlite", "mariadb")) -> dict:
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
            all_runs.append(one_run(n_products, url, services.redis_url))
        results[database] = {"products": n_products, "runs": all_runs, "median": medians(all_runs, KEYS)}
    return results


def judge(results: dict) -> list[dict]:
    rows = []
    for database, result in results.items():
        med = result["median"]
        figure = (
            f"{med['seconds']:.1f} s, {med['rows_per_second']:.0f} rows/s, peak RSS {med['rss_peak_mb']:.0f} MB "
            f"(unchanged re-refresh {med['unchanged_refresh_seconds']:.1f} s)"
        )
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
    args = parser.parse_args(argv)
    databases = tuple(args.database or ("sqlite", "mariadb"))
    with Services(mariadb="mariadb" in databases) as services:
        results = run(services, args.products, args.runs, databases)
    print(json.dumps(results, indent=1))
    for row in judge(results):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
