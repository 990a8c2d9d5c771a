"""Bench: EvoSync under each reading of VK's open behaviours (docs/VK_READINGS.md).

1. The most VK items one product had at any point, under every reading: the merchant's story and the 20 % fault
   soak of tests/sync_engine/test_readings_story.py, run through pytest with EVOSYNC_READINGS_REPORT set (the
   test is the one definition of the story; the emulator counts the peak per sku). Must be 1 everywhere.
2. What it costs when VK refuses photo saves inside ``execute``: a first sync of N products with VK's 3 requests/s
   rule on, saves in execute batches vs one request each (medians over ``--runs``).

    python -m bench.readings_bench --products 150 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from bench.common import ROOT, SandboxProcess, Services, add_merchant, floor_seconds, log, make_app, medians


def peaks_per_reading() -> list[dict]:
    """One row per story reading: {readings, story_syncs, most_items_per_product, soak{...}}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.jsonl")
        env = {**os.environ, "EVOSYNC_READINGS_REPORT": path}
        test = "tests/sync_engine/test_readings_story.py::test_one_item_per_product_through_a_merchants_story"
        log("readings: the story and the fault soak under every reading (pytest)")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-p", "no:logging"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        rows = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as lines:
                rows = [json.loads(line) for line in lines]
        if done.returncode != 0:
            log(done.stdout[-3000:])
            rows.append({"readings": "pytest failed", "most_items_per_product": None})
        return rows


def first_sync(services: Services, n_products: int, readings: str, run_no: int) -> dict:
    from evosync.services.evotor_catalog.refresh import refresh_catalog
    from evosync.services.evotor_catalog.scope import set_store_enabled
    from evosync.services.sync.runner import run_sync

    evotor_token, vk_token, group_id = f"bench-evotor-{uuid.uuid4().hex}", f"bench-vk-{uuid.uuid4().hex}", 920001
    with SandboxProcess({vk_token: group_id}, readings=readings) as sandbox:
        seeded = sandbox.seed_evotor(evotor_token, n_products, seed=run_no + 1)
        app = make_app(services.sqlite_url(f"readings-{uuid.uuid4().hex[:8]}"), services.redis_url, sandbox.base_url)
        with app.app_context():
            from evosync.extensions import db

            user_id = add_merchant(evotor_token, vk_token, group_id)
            assert refresh_catalog(user_id, image_checks=n_products).status == "ok"
            for store in seeded["stores"]:
                set_store_enabled(user_id, store["id"] if isinstance(store, dict) else store, True)
            before = sandbox.vk_stats()
            t0 = time.perf_counter()
            run = run_sync(user_id, trigger="cli")
            wall = time.perf_counter() - t0
            after = sandbox.vk_stats()
            calls = after["calls"] - before["calls"]
            figures = {
                "status": str(run.status),
                "created": run.created_count,
                "wall_s": round(wall, 2),
                "requests": after["requests"] - before["requests"],
                "calls": calls,
                "floor_s": round(floor_seconds(calls), 1),
            }
            db.session.remove()
            db.engine.dispose()
    return figures


def photo_save_cost(services: Services, n_products: int, runs: int) -> dict:
    out = {}
    for label, readings in (("in execute", ""), ("one request each", "photo_saves_in_execute=0")):
        results = []
        for run_no in range(runs):
            log(f"readings: first sync of {n_products}, photo saves {label} (run {run_no + 1})")
            results.append(first_sync(services, n_products, readings, run_no))
        out[label] = {"runs": results, "median": medians(results, ("created", "wall_s", "requests", "calls"))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=150)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-peaks", action="store_true")
    args = parser.parse_args(argv)
    results: dict = {}
    if not args.skip_peaks:
        results["peaks"] = peaks_per_reading()
    with Services() as services:
        results["photo_saves"] = photo_save_cost(services, args.products, args.runs)
    print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
