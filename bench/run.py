"""``make bench``: every benchmark against the sandbox on loopback (VK's limits on), one table, bench/RESULTS.md.

    python -m bench.run                      # the full set (sizes below; about 30 minutes on 2 cores)
    python -m bench.run --quick              # small sizes, one run each, no RESULTS.md: a smoke test
    python -m bench.run --only sync --only webhook --runs 1
    python -m bench.run --only fleet --runs 1   # the fleet (not in the default set: ~25 min at its full size)

Full-run plan (``make bench`` takes about 55 minutes on 2 cores): first sync of 10,000
products 3 times, each followed by the unchanged and the 1 %-changed re-syncs (~3.5 min a run with bulk photos);
first sync of 2,000 products 3 times (~1 min each); the same at 2,000 under each of the 4 readings where VK refuses
a step of the bulk photo flow, 3 times each (~15 min); one first sync of 10,000 products whose images the first
sync must look up at Evotor's default pace, then an unchanged refresh and re-sync (~9 min); mirror refresh of
50,000 products 3 times on SQLite and 3 times on MariaDB (~1 min each); products page 3 x 30 s, /health 3 x 10 s
and webhook intake 3 x 10 s on one gunicorn + MariaDB target (~1.5 min to set up).

The fleet benchmark (``fleet_bench.py``: many merchants' first syncs through real RQ workers) runs only when asked
for with ``--only fleet``: at its size here (200 merchants x 100 products, 4 and 8 workers) it takes ~20 minutes
more, and its full size (200 x 500, 1 to 8 workers) over an hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from bench import fleet_bench, load_bench, mirror_bench, sync_bench, webhook_bench
from bench.common import ROOT, Services, log

BENCHES = ("sync", "fallbacks", "images", "mirror", "load", "webhook")
OPTIONAL = ("fleet",)  # run only when named with --only
FULL = {
    "sync_sizes": [10_000, 2_000],
    "sync_changes_for": {10_000},
    "fallback_products": 2_000,
    "image_products": 10_000,
    "image_runs": 1,
    "mirror_products": 50_000,
    "load_products": 50_000,
    "page_seconds": 30,
    "health_seconds": 10,
    "webhook_seconds": 10,
    "fleet_merchants": 200,
    "fleet_products": 100,
    "fleet_workers": [4, 8],
    "runs": 3,
}
QUICK = {
    "sync_sizes": [60],
    "sync_changes_for": {60},
    "fallback_products": 60,
    "image_products": 60,
    "image_runs": 1,
    "mirror_products": 300,
    "load_products": 300,
    "page_seconds": 2,
    "health_seconds": 1,
    "webhook_seconds": 2,
    "fleet_merchants": 6,
    "fleet_products": 30,
    "fleet_workers": [1, 3],
    "runs": 1,
}


def machine() -> dict:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "unknown", False
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0, 0, 0)
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit + (" (with uncommitted changes in the tree)" if dirty else ""),
        "load_before": [round(x, 2) for x in load],
    }


def run_all(only: tuple[str, ...], plan: dict, runs: int) -> dict:
    """Run the chosen benchmarks; {"machine", "results", "rows", "seconds"}."""
    started = time.monotonic()
    info = machine()
    results: dict = {}
    rows: list[dict] = []
    with Services(mariadb=bool({"mirror", "load", "webhook", "fleet"} & set(only))) as services:
        if "sync" in only:
            sync = sync_bench.run(services, plan["sync_sizes"], runs, plan["sync_changes_for"])
            results["sync"] = sync
            rows += sync_bench.judge({size: r["median"] for size, r in sync.items()})
        if "fallbacks" in only:
            fallbacks = sync_bench.run_fallbacks(services, plan["fallback_products"], runs)
            results["fallbacks"] = fallbacks
            rows += sync_bench.judge_fallbacks(fallbacks)
        if "images" in only:
            images = sync_bench.run(services, [plan["image_products"]], plan["image_runs"], image_lookup=True)
            results["images"] = images
            rows += sync_bench.judge_images(images)
        if "mirror" in only:
            mirror = mirror_bench.run(services, plan["mirror_products"], runs)
            results["mirror"] = mirror
            rows += mirror_bench.judge(mirror)
        if {"load", "webhook"} & set(only):
            with load_bench.LoadTarget(services, plan["load_products"]) as target:
                results["load_setup"] = target.setup_seconds
                if "load" in only:
                    load = {}
                    for name, url, headers, seconds in (
                        ("products page", target.products_url, target.browser_headers, plan["page_seconds"]),
                        ("health", target.base_url + "/health", {}, plan["health_seconds"]),
                    ):
                        figures = []
                        for i in range(runs):
                            log(f"load: {name}, {load_bench.CONNECTIONS} clients, {seconds} s (run {i + 1}/{runs})")
                            figures.append(load_bench.run_wrk(url, seconds, "", headers))
                        load[name] = {"runs": figures, "median": mirror_bench.medians(figures)}
                    results["load"] = load
                    rows += load_bench.judge(load, plan["load_products"])
                if "webhook" in only:
                    webhook = webhook_bench.run(target, plan["webhook_seconds"], runs)
                    results["webhook"] = webhook
                    rows += webhook_bench.judge(webhook)
        if "fleet" in only:
            fleet = fleet_bench.run(
                services, plan["fleet_merchants"], plan["fleet_products"], plan["fleet_workers"], runs
            )
            # Per-merchant rows stay out of RESULTS.md (hundreds): `python -m bench.fleet_bench --json` keeps them.
            rounds = [{k: v for k, v in r.items() if k != "per_merchant"} for r in fleet["rounds"]]
            results["fleet"] = {"rounds": rounds}
            rows += fleet_bench.judge(fleet)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {"machine": info, "results": results, "rows": rows, "seconds": round(time.monotonic() - started)}


def _met(value) -> str:
    return "—" if value is None else ("met" if value else "**not met**")


def table(rows: list[dict]) -> str:
    lines = ["| what | target | figure (median) | met |", "|---|---|---|---|"]
    lines += [f"| {r['what']} | {r['target']} | {r['figure']} | {_met(r['met'])} |" for r in rows]
    return "\n".join(lines)


def _sync_details(sync: dict) -> str:
    out = [
        "| size | phase | wall s | VK requests | mirror reads | API calls | writes | uploads | calls/item | "
        "items/s | floor s | wall/floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, result in sorted(sync.items()):
        for phase, m in result["median"].items():
            out.append(
                f"| {size:,} | {phase} | {m.get('wall_s')} | {m.get('requests')} | {m.get('mirror_requests')} | "
                f"{m.get('calls')} | {m.get('writes')} | {m.get('uploads')} | {m.get('calls_per_item', '')} | "
                f"{m.get('items_per_s', '')} | {m.get('floor_s', '')} | {m.get('wall_over_floor', '')} |"
            )
    return "\n".join(out)


def write_results(report: dict, path: Path, notes: str = "") -> None:
    info = report["machine"]
    # Only the load before the run says whether something else was running: the load after is the bench's own.
    loaded = info["load_before"][0] > (info["cores"] or 1)
    parts = [
        "# EvoSync benchmark results",
        "",
        "Written by `make bench` (`python -m bench.run`); see bench/README.md for what each benchmark does.",
        "",
        f"- machine: {info['cores']} cores ({info['cpu']}), Python {info['python']}",
        f"- date: {info['date']}; total bench time {report['seconds'] // 60} min {report['seconds'] % 60} s",
        f"- commit: {info['commit']}",
        f"- load average before / after: {info['load_before']} / {info.get('load_after')}",
        "- figures are medians of the runs listed in bench/README.md (3 of each in the full run)",
    ]
    if loaded:
        parts.append(
            f"- **taken on a loaded {info['cores']}-core machine** (other test suites ran at the same time: the "
            "load average exceeded the core count), so CPU-bound figures are pessimistic and noisy"
        )
    parts += ["", "## Targets", "", table(report["rows"]), ""]
    if notes:
        parts += [notes.strip(), ""]
    results = report["results"]
    if "sync" in results:
        parts += ["## Sync details (medians)", "", _sync_details(results["sync"]), ""]
    if "fleet" in results:
        parts += ["## Fleet rounds", "", fleet_bench.table(results["fleet"]["rounds"]), ""]
    parts += ["## Raw figures", "", "```json", json.dumps(results, indent=1, default=str), "```", ""]
    path.write_text("\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run each, RESULTS.md left alone")
    parser.add_argument(
        "--only", action="append", choices=BENCHES + OPTIONAL, help="run only these (repeatable; fleet only so)"
    )
    parser.add_argument("--runs", type=int, help="runs per benchmark (default 3; 1 with --quick)")
    parser.add_argument(
        "--results",
        help="where to write the markdown results (default bench/RESULTS.md; not written with --quick unless given)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    runs = args.runs or plan["runs"]
    only = tuple(args.only or BENCHES)
    report = run_all(only, plan, runs)
    print(table(report["rows"]))
    print(f"\n{report['machine']['cores']} cores, commit {report['machine']['commit']}, {report['seconds']} s")
    target = args.results or (None if args.quick else str(ROOT / "bench" / "RESULTS.md"))
    if target:
        write_results(report, Path(target))
        log(f"results written to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
