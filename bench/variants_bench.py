"""Bench: what VK variants cost — a catalog's modification groups published as VK cards vs separate items.

Per run, three first-publication scenarios of the same seeded catalog (a fresh sandbox process and SQLite file
each, VK's 3 requests/s rule on):

1. ``separate``: the community's extended mode off: today's separate items (plus the mode check in the mirror read);
2. ``cards``: the mode on: each modification group is one VK card (properties, variants, ``groupItems``);
3. ``switch``: published with the mode off, then the merchant switches it on: the next run edits and groups the
   existing items (nothing created again). Its figures are that second run's.

Reported: VK requests and API calls of each, and the extra calls per variant of ``cards`` over ``separate``.

    python -m bench.variants_bench --products 600 --runs 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

from bench.common import SandboxProcess, Services, add_merchant, floor_seconds, log, make_app, medians


def _run(sandbox, user_id: int) -> dict:
    from evosync.services.sync.runner import run_sync

    before = sandbox.vk_stats()
    t0 = time.perf_counter()
    run = run_sync(user_id, trigger="cli")
    wall = time.perf_counter() - t0
    after = sandbox.vk_stats()
    calls = after["calls"] - before["calls"]
    methods = {m: after["methods"].get(m, 0) - before["methods"].get(m, 0) for m in after["methods"]}
    return {
        "status": str(run.status),
        "created": run.created_count,
        "updated": run.updated_count,
        "cards": len((run.details or {}).get("cards") or []),
        "variants": sum(c["variants"] for c in (run.details or {}).get("cards") or []),
        "wall_s": round(wall, 2),
        "requests": after["requests"] - before["requests"],
        "calls": calls,
        "floor_s": round(floor_seconds(calls), 1),
        "card_calls": sum(
            methods.get(m, 0)
            for m in ("market.addProperty", "market.addPropertyVariant", "market.groupItems", "market.ungroupItems")
        ),
    }


def scenario(services: Services, n_products: int, kind: str, run_no: int) -> dict:
    from evosync.services.evotor_catalog.refresh import refresh_catalog
    from evosync.services.evotor_catalog.scope import set_store_enabled

    evotor_token, vk_token, group_id = f"bench-evotor-{uuid.uuid4().hex}", f"bench-vk-{uuid.uuid4().hex}", 930001
    with SandboxProcess({vk_token: group_id}) as sandbox:
        seeded = sandbox.seed_evotor(evotor_token, n_products, seed=run_no + 1)
        sandbox.post("/_sandbox/vk/extended", {"group_id": group_id, "on": kind == "cards"})
        app = make_app(services.sqlite_url(f"variants-{uuid.uuid4().hex[:8]}"), services.redis_url, sandbox.base_url)
        with app.app_context():
            from evosync.extensions import db

            user_id = add_merchant(evotor_token, vk_token, group_id)
            assert refresh_catalog(user_id, image_checks=n_products).status == "ok"
            for store in seeded["stores"]:
                set_store_enabled(user_id, store["id"] if isinstance(store, dict) else store, True)
            figures = _run(sandbox, user_id)
            if kind == "switch":
                sandbox.post("/_sandbox/vk/extended", {"group_id": group_id, "on": True})
                figures = {**_run(sandbox, user_id), "first_created": figures["created"]}
            db.session.remove()
            db.engine.dispose()
    return figures


KEYS = ("created", "updated", "cards", "variants", "wall_s", "requests", "calls", "card_calls")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    results: dict = {}
    with Services() as services:
        for kind in ("separate", "cards", "switch"):
            runs = []
            for run_no in range(args.runs):
                log(f"variants: {kind}, {args.products} products (run {run_no + 1})")
                runs.append(scenario(services, args.products, kind, run_no))
            results[kind] = {"runs": runs, "median": medians(runs, KEYS)}
    separate, cards = results["separate"]["median"], results["cards"]["median"]
    variants = cards.get("variants") or 0
    if variants:
        results["extra_calls_per_variant"] = round((cards["calls"] - separate["calls"]) / variants, 2)
        results["switch_calls_per_variant"] = round(results["switch"]["median"]["calls"] / variants, 2)
    print(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
