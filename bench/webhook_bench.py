"""Bench 6: Evotor catalog events at 20 concurrent senders against POST /evotor/events/catalog.

Uses the gunicorn + MariaDB target of bench/load_bench.py (a merchant with an N-product store). Before
the run, distinct ProductEvent "updated" bodies are written to a file, each signed with
``X-Hub-Signature: sha1=<HMAC-SHA1(body, EVOTOR_WEBHOOK_SECRET)>`` the way Evotor signs them; each
changes a real product's price. The intake verifies each one and records it as queued (idempotency by id): that
is what the 20 senders wait for. After each run the queued events are applied the way the worker's drainer applies
them (services/evotor_events.queue.drain_events, in this process), and that rate is reported beside the intake's. wrk's
20 connections cycle through the bodies (each wrk thread takes its own slice, so no event id repeats while the
file lasts).

    python -m bench.webhook_bench --products 50000 --duration 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

from bench.common import Services, log, make_app, medians
from bench.load_bench import CONNECTIONS, WEBHOOK_SECRET, LoadTarget, run_wrk

PATH = "/evotor/events/catalog"
EVENTS_PER_SECOND_HINT = 1500  # bodies written per second of run: enough that ids do not repeat

# Each wrk thread reads the file once, then sends the lines i, i + threads, i + 2 * threads, ...
EVENTS_LUA = r"""
local events = {}
local position = 0
local step = 1
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  for line in io.lines(args[1]) do
    local sig, body = line:match("^(%S+)\t(.*)$")
    if sig then events[#events + 1] = {sig, body} end
  end
  step = tonumber(args[2]) or 1
  position = (id or 1) - 1
end
function request()
  local event = events[(position % #events) + 1]
  position = position + step
  return wrk.format("POST", nil, {["X-Hub-Signature"] = event[1], ["Content-Type"] = "application/json",
    ["User-Agent"] = "Evotor-Hookshot"}, event[2])
end
"""


def write_events(target: LoadTarget, count: int, directory: str) -> Path:
    """``count`` signed ProductEvent lines (``signature<TAB>body``) for the target's products."""
    path = Path(directory) / f"events-{uuid.uuid4().hex}.tsv"
    run_tag = uuid.uuid4().hex[:8]
    base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # newer than the mirror: every update applies
    with path.open("w") as out:
        for n in range(count):
            product_id = target.product_ids[n % len(target.product_ids)]
            stamp = (base + dt.timedelta(milliseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            event = {
                "id": f"bench-{run_tag}-{n}",
                "timestamp": int(base.timestamp() * 1000) + n,
                "type": "ProductEvent",
                "action": "updated",
                "payload": {
                    "id": product_id,
                    "store_id": target.store_id,
                    "user_id": target.evotor_user_id,
                    "price": 100 + n % 900,
                    "quantity": n % 40,
                    "updated_at": stamp,
                },
            }
            body = json.dumps(event, separators=(",", ":"))
            digest = hmac.new(WEBHOOK_SECRET.encode(), body.encode(), hashlib.sha1).hexdigest()
            out.write(f"sha1={digest}\t{body}\n")
    return path


def run(target: LoadTarget, duration: float, runs: int) -> dict:
    all_runs = []
    threads = 2
    # As in a worker: the syncs the applied events schedule go to RQ (no worker takes them here), not run inline.
    app = make_app(target.services.mariadb_url, target.services.redis_url, RUN_JOBS_INLINE=False)
    with tempfile.TemporaryDirectory(prefix="evosync-bench-events.") as directory:
        for i in range(runs):
            events = write_events(target, int(duration * EVENTS_PER_SECOND_HINT), directory)
            log(f"webhooks: {CONNECTIONS} senders, {duration:g} s (run {i + 1}/{runs})")
            figures = run_wrk(
                target.base_url + PATH, duration, EVENTS_LUA, script_args=[str(events), str(threads)], threads=threads
            )
            figures["events_per_s"] = figures.pop("req_per_s")
            figures.update(drain(app))
            all_runs.append(figures)
            os.unlink(events)
    return {"runs": all_runs, "median": medians(all_runs)}


def drain(app) -> dict:
    """Apply the events the run queued, as the worker's drainer does; how many and how fast."""
    from evosync.extensions import db
    from evosync.services.evotor_events.queue import drain_events

    with app.app_context():
        summary = drain_events(linger=0)
        db.session.remove()
    applied = summary.by_status.get("applied", 0)
    if applied != summary.events:
        raise RuntimeError(f"not every queued event applied: {summary.by_status}")
    log(f"webhooks: the drainer applied {applied:,} events in {summary.seconds:.1f} s")
    return {
        "applied": applied,
        "apply_seconds": round(summary.seconds, 2),
        "applied_per_s": round(applied / summary.seconds, 1) if summary.seconds else None,
    }


def judge(result: dict) -> list[dict]:
    med = result["median"]
    errors = max(r["errors"] for r in result["runs"])
    return [
        {
            "what": f"webhook intake, {CONNECTIONS} senders",
            "target": ">= 300 events/s, p95 <= 50 ms, 0 errors",
            "figure": f"{med['events_per_s']:.0f} events/s, p50 {med['p50_ms']} ms, p95 {med['p95_ms']} ms, "
            f"p99 {med['p99_ms']} ms, {errors} errors (then applied by the drainer at {med['applied_per_s']:.0f}/s)",
            "met": med["events_per_s"] >= 300 and med["p95_ms"] <= 50 and errors == 0,
        }
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with Services(mariadb=True) as services, LoadTarget(services, args.products) as target:
        result = run(target, args.duration, args.runs)
    print(json.dumps(result, indent=1))
    for row in judge(result):
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
