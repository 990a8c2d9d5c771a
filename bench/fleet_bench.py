"""Bench 7 (issue 24): a fleet's first syncs at once, through real RQ worker processes, W workers at a time.

One round per worker count W: an empty MariaDB and Redis, a fresh sandbox process (VK's 3 requests/s per token
and 25 calls per execute on; every VK request's token and time logged), N merchants each with their own Evotor
token and seeded store (P products, no product images by default, so Evotor downloads do not dominate), their own
VK token and community, the Evotor catalog mirrored (``refresh_catalog``) and the store published. Then W
``worker.py`` processes start (the app's queues, the same settings through the environment, jobs not inline),
and every merchant's sync is asked for at once through ``request_sync`` -- what "Sync now" does -- which
enqueues one ``sync_job`` per merchant on the ``high`` queue. Measured until every run has finished:

* items/s over the fleet: items created across all merchants / wall time from the first request to the last finish;
* per merchant, the wait (request -> its run starts) and the completion time (request -> its run finishes),
  p50/p95/max: the queue is FIFO and a sync is one job, so with W workers merchant k waits behind ~k/W syncs;
* per merchant, its VK requests during its run / its run's duration / 3 (the share of its token's 3/s it used),
  from the sandbox's per-token log; error 6 (too many requests per second) over the whole round (must be 0) and
  the most requests any token made in any 1-second window (must be <= 3);
* how long an Evotor webhook's drainer job, woken (``wake_drainer``) just after the fleet's requests, queued
  behind the syncs on the same ``high`` queue;
* peak RSS of each worker (the RQ worker and the work horse it forks per job, sampled from /proc);
* CPU seconds (utime+stime from /proc/<pid>/stat) of the workers (their reaped horses included), the sandbox,
  mariadbd, redis-server and this process, and how busy the machine's cores were: where scaling stops, and why.

    python -m bench.fleet_bench --merchants 20 --products 100 --workers 1,2,4,8 --runs 1 --json /tmp/fleet.json
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import (
    ROOT,
    SandboxProcess,
    Services,
    add_merchant,
    app_config,
    log,
    make_app,
    median,
    percentile,
)

GROUP_BASE = 940_001
POLL_SECONDS = 0.2
PSS_EVERY = 5  # samples (of POLL_SECONDS) between PSS readings
VK_PER_SECOND = 3
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FINISHED = ("succeeded", "partial", "failed", "cancelled", "waiting_confirmation")


@dataclass
class Merchant:
    user_id: int
    evotor_token: str
    vk_token: str
    group_id: int
    run_id: int | None = None
    requested: float | None = None  # epoch seconds, as this process asked for the sync
    started: float | None = None  # first seen running (polled every POLL_SECONDS)
    finished: float | None = None  # first seen finished
    vk_requests: int = 0  # the sandbox's count for its token during the round
    row: dict = field(default_factory=dict)  # its runs' figures at the end
    products: int = 0  # its catalog's size
    big: bool = False  # one of the large catalogs asked for first (--big)


# --------------------------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (with ``children``: plus those of the children it has reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: pages shared with others (a horse shares its worker's until written) counted in
    part, so worker + horse PSS is what the pair really holds, where their RSS adds the shared pages twice."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def horses_of(pids: list[int]) -> dict[int, list[int]]:
    """The work horse(s) each RQ worker has forked: children that lead their own process group (RQ's horse calls
    setpgrp; the scheduler process a worker may fork does not). Children from /proc/<pid>/task/<pid>/children."""
    found: dict[int, list[int]] = {}
    for pid in pids:
        found[pid] = []
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[2]) == int(child):
                        found[pid].append(int(child))
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


# --------------------------------------------------------------------------------------------- workers


class WorkerPool:
    """W ``worker.py`` processes on the app's queues, with the app's settings through the environment."""

    def __init__(self, config: dict, count: int, log_dir: Path):
        self.config = config
        self.count = count
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []
        self.peak_worker_mb = [0.0] * count
        self.peak_horse_mb = [0.0] * count
        self.peak_total_mb = [0.0] * count
        self.peak_pss_mb = [0.0] * count
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def env(self) -> dict[str, str]:
        config = self.config
        return {
            **os.environ,
            "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": config["REDIS_URL"],
            "SECRET_KEY": config["SECRET_KEY"],
            "EVOTOR_API_URL": config["EVOTOR_API_URL"],
            "VK_API_URL": config["VK_API_URL"],
            "VK_TIMEOUT": str(config["VK_TIMEOUT"]),
            "EVOTOR_TIMEOUT": str(config["EVOTOR_TIMEOUT"]),
            "RUN_JOBS_INLINE": "false",
            "SYNC_SLICE_SECONDS": str(config.get("SYNC_SLICE_SECONDS", 60.0)),
            "LOG_LEVEL": "WARNING",
            "EVOSYNC_ENV": "development",
            "EVOSYNC_DOTENV": str(self.log_dir / "none.env"),  # no .env from the working tree
        }

    def start(self, redis_client) -> None:
        from rq import Worker

        env = self.env()
        for n in range(self.count):
            out = open(self.log_dir / f"worker{n + 1}.log", "wb")  # noqa: SIM115  (closed with the process)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, str(ROOT / "worker.py"), "--name", f"fleet-{n + 1}-{uuid.uuid4().hex[:6]}"],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 120
        while Worker.count(connection=redis_client) < self.count:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start: see {self.log_dir}/worker*.log")
            time.sleep(0.1)
        self._thread = threading.Thread(target=self._sample, name="fleet-rss", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        tick = 0
        while not self._stop.is_set():
            tick += 1
            horses_by_worker = horses_of([p.pid for p in self.procs])
            for n, proc in enumerate(self.procs):
                with contextlib.suppress(OSError):
                    horses = horses_by_worker[proc.pid]
                    worker = rss_mb(proc.pid)
                    horse = sum(rss_mb(child) for child in horses)
                    self.peak_worker_mb[n] = max(self.peak_worker_mb[n], worker)
                    self.peak_horse_mb[n] = max(self.peak_horse_mb[n], horse)
                    self.peak_total_mb[n] = max(self.peak_total_mb[n], worker + horse)
                    if tick % PSS_EVERY == 1:  # PSS walks the page tables: ~2 ms a 150 MB process, so 1 s apart
                        pss = pss_mb(proc.pid) + sum(pss_mb(child) for child in horses)
                        self.peak_pss_mb[n] = max(self.peak_pss_mb[n], pss)
            self._stop.wait(POLL_SECONDS)

    def cpu_seconds(self) -> list[float]:
        """Each worker's CPU, its reaped work horses included."""
        return [cpu_seconds(p.pid, children=True) for p in self.procs]

    def wait_idle(self, timeout: float = 30) -> None:
        """Until no worker has a work horse left (a horse's CPU counts for its worker once reaped)."""
        deadline = time.monotonic() + timeout
        while any(horses_of([p.pid for p in self.procs]).values()) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # warm shutdown: the queues are empty by now
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for child in horses_of([proc.pid])[proc.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
                proc.kill()
                proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------- one round


def set_up(sandbox: SandboxProcess, merchants: list[Merchant], images_ratio: float) -> float:
    """Each merchant: an Evotor account with a seeded store, the merchant, the mirror, the store published."""
    from evosync.services.evotor_catalog.refresh import refresh_catalog
    from evosync.services.evotor_catalog.scope import set_store_enabled

    t0 = time.perf_counter()
    for n, merchant in enumerate(merchants):
        n_products = merchant.products
        seeded = sandbox.seed_evotor(merchant.evotor_token, n_products, seed=n + 1, with_images_ratio=images_ratio)
        merchant.user_id = add_merchant(merchant.evotor_token, merchant.vk_token, merchant.group_id)
        mirrored = refresh_catalog(merchant.user_id, image_checks=n_products if images_ratio else 0)
        if not images_ratio:  # no product has an image: none to look up (the syncs would otherwise, at Evotor's pace)
            _no_images_due(merchant.user_id)
        if mirrored.status != "ok":
            raise RuntimeError(f"refresh of merchant {n}: {mirrored}")
        for store in seeded["stores"]:
            set_store_enabled(merchant.user_id, store["id"] if isinstance(store, dict) else store, True)
        if (n + 1) % 50 == 0:
            log(f"fleet: {n + 1} of {len(merchants)} merchants set up")
    return time.perf_counter() - t0


def _no_images_due(user_id: int) -> None:
    """Mark every mirrored product's images as looked up (true here: the seeded catalog has none)."""
    import sqlalchemy as sa

    from evosync.extensions import db
    from evosync.models import CachedProduct

    db.session.execute(
        sa.update(CachedProduct)
        .where(CachedProduct.user_id == user_id)
        .values(image_checked_for=sa.func.coalesce(CachedProduct.evotor_updated_at, ""))
    )
    db.session.commit()


def request_all(merchants: list[Merchant]) -> None:
    """Every merchant's sync asked for at once, as "Sync now" asks (one sync_job each, queue ``high``)."""
    from evosync.services.sync.starts import request_sync

    for merchant in merchants:
        merchant.requested = time.time()
        run, created = request_sync(merchant.user_id)
        if not created:
            raise RuntimeError(f"merchant {merchant.user_id} already had a run")
        merchant.run_id = run.id


def wake_drainer_probe() -> float:
    """Right after the fleet's requests: an Evotor webhook's way in (``wake_drainer``: the catalog event drainer
    on ``high``). Its job waits in the same FIFO queue; when it started is read back by :func:`drainer_wait`."""
    from evosync.services.evotor_events.queue import wake_drainer

    asked = time.time()
    wake_drainer()
    return asked


def drainer_wait(asked: float) -> float | None:
    """Seconds from the probe's request to its drainer job's start (RQ's own started_at), None if not found."""
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    from evosync.queues import HIGH, get_queue
    from evosync.services.evotor_events.queue import DRAIN_JOB

    queue = get_queue(HIGH)
    registry = FinishedJobRegistry(queue=queue)
    starts = [
        job.started_at
        for job in Job.fetch_many(registry.get_job_ids(), connection=queue.connection)
        if job is not None and job.func_name == DRAIN_JOB and job.started_at
    ]
    if not starts:
        return None
    return round(min(_epoch(s.replace(tzinfo=None) if s.tzinfo else s) for s in starts) - asked, 2)


def wait_all(merchants: list[Merchant], timeout: float) -> float:
    """Poll the runs until all have finished; notes when each merchant was first seen running and when its last
    run finished (a run whose time slice ran out is followed by another, SYNC_SLICE_SECONDS). The end."""
    import sqlalchemy as sa

    from evosync.extensions import db
    from evosync.models import SyncRun

    by_user = {m.user_id: m for m in merchants}
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # a fresh view of what the workers committed
        now = time.time()
        waiting = [m.user_id for m in merchants if m.finished is None]
        rows = db.session.execute(
            sa.select(SyncRun.user_id, SyncRun.id, SyncRun.status, SyncRun.details)
            .where(SyncRun.user_id.in_(waiting))
            .order_by(SyncRun.id)
        ).all()
        latest = {}
        for user_id, _run_id, status, details in rows:
            merchant = by_user[user_id]
            if status != "queued" and merchant.started is None:
                merchant.started = now
            latest[user_id] = (status, details)
        for user_id, (status, details) in latest.items():
            if status in FINISHED and not (details or {}).get("continues"):
                by_user[user_id].finished = now
        if all(m.finished is not None for m in merchants):
            return max(m.finished for m in merchants)
        if time.monotonic() > deadline:
            left = sum(m.finished is None for m in merchants)
            raise RuntimeError(f"{left} runs still not finished after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def _epoch(value: dt.datetime | None) -> float | None:
    return value.replace(tzinfo=dt.UTC).timestamp() if value else None


def collect_rows(merchants: list[Merchant], sandbox: SandboxProcess) -> None:
    """Each merchant's run row and what its VK community holds, against the links the run made (published, or
    published as unavailable: out of stock items stay in VK)."""
    import sqlalchemy as sa

    from evosync.extensions import db
    from evosync.models import LinkStatus, SyncLink, SyncRun

    db.session.rollback()
    for merchant in merchants:
        runs = list(db.session.scalars(sa.select(SyncRun).filter_by(user_id=merchant.user_id).order_by(SyncRun.id)))
        run = runs[-1]
        published = set(
            db.session.scalars(
                sa.select(SyncLink.sku).where(
                    SyncLink.user_id == merchant.user_id,
                    SyncLink.status.in_((LinkStatus.PUBLISHED, LinkStatus.UNAVAILABLE)),
                )
            )
        )
        live = [item["sku"] for item in sandbox.vk_items(merchant.group_id) if not item["deleted"]]
        merchant.row = {
            "status": str(run.status),
            "error": run.error,
            "runs": len(runs),
            "big": merchant.big,
            "products": merchant.products,
            "created": sum(r.created_count for r in runs),
            "failed": run.failed_count,
            "api_requests": sum(r.api_requests or 0 for r in runs),
            "api_calls": sum(r.api_calls or 0 for r in runs),
            "db_created_at": _epoch(runs[0].created_at),
            "db_started_at": _epoch(runs[0].started_at),
            "db_finished_at": _epoch(run.finished_at),
            "vk_requests": merchant.vk_requests,
            "vk_live_items": len(live),
            "vk_matches_links": len(live) == len(set(live)) == len(published) and set(live) == published,
        }


def one_round(
    services: Services,
    n_merchants: int,
    n_products: int,
    workers: int,
    *,
    round_no: int = 0,
    database_url: str | None = None,
    images_ratio: float = 0.0,
    timeout: float | None = None,
    check: Callable[[SandboxProcess, list[Merchant]], None] | None = None,
    big: tuple[int, int] = (0, 0),
    slice_seconds: float = 60.0,
) -> dict:
    """One measured round on an empty database, Redis and VK; its figures. ``check(sandbox, merchants)`` runs at
    the end inside the app context (the test's own assertions). MariaDB unless ``database_url`` is given."""
    from evosync.extensions import db
    from evosync.redis_conn import get_redis

    if database_url is None:
        services.reset_mariadb()
        database_url = services.mariadb_url
    tag = uuid.uuid4().hex[:8]
    n_big, big_products = big  # the large catalogs come first: asked for before the others
    merchants = [
        Merchant(
            0,
            f"fleet-evotor-{tag}-{n}",
            f"fleet-vk-{tag}-{n}",
            GROUP_BASE + n,
            products=big_products if n < n_big else n_products,
            big=n < n_big,
        )
        for n in range(n_big + n_merchants)
    ]
    log_dir = Path(tempfile.mkdtemp(prefix="fleet.", dir=services.workdir))  # removed with the services
    with SandboxProcess({m.vk_token: m.group_id for m in merchants}, token_log=True) as sandbox:
        app = make_app(
            database_url,
            services.redis_url,
            sandbox.base_url,
            RUN_JOBS_INLINE=False,
            EVOTOR_RATE_LIMIT_PER_SECOND=10_000,
        )
        config = {**app_config(database_url, services.redis_url, sandbox.base_url), "SYNC_SLICE_SECONDS": slice_seconds}
        pool = WorkerPool(config, workers, log_dir)
        with app.app_context():
            redis = get_redis()
            redis.flushdb()
            log(f"fleet: setting up {n_merchants} merchants x {n_products} products (round {round_no + 1})")
            setup_s = set_up(sandbox, merchants, images_ratio)
            log(f"fleet: set up in {setup_s:.0f} s; starting {workers} workers")
            try:
                pool.start(redis)
                figures = _measure(services, sandbox, pool, merchants, timeout)
                collect_rows(merchants, sandbox)
                if check is not None:
                    check(sandbox, merchants)
            finally:
                pool.stop()
                db.session.remove()
                db.engine.dispose()
    figures.update(setup_s=round(setup_s, 1), log_dir=str(log_dir))
    figures.update(_summarize(merchants, figures))
    return figures


def _measure(
    services: Services,
    sandbox: SandboxProcess,
    pool: WorkerPool,
    merchants: list[Merchant],
    timeout: float | None,
) -> dict:
    others = {"sandbox": sandbox.process.pid, "bench": os.getpid()}
    if services._mariadb is not None:
        others["mariadbd"] = services._mariadb.pid
    if services._redis is not None:
        others["redis-server"] = services._redis.pid
    vk_before = sandbox.vk_stats()
    tokens_before = sandbox.vk_tokens()
    cpu_before = {name: cpu_seconds(pid) for name, pid in others.items()}
    workers_before = pool.cpu_seconds()
    busy_before, total_before = machine_ticks()

    t0 = time.time()
    request_all(merchants)
    requested_s = time.time() - t0
    probe = wake_drainer_probe()
    log(f"fleet: {len(merchants)} syncs requested in {requested_s:.1f} s; waiting for them")
    # Generous: VK's pace alone needs ~(2 x P / 25 + 4) / 3 s a merchant, spread over the workers.
    limit = timeout or 120 + sum((2 * m.products / 25 + 10) / 3 for m in merchants)
    end = wait_all(merchants, limit)
    wall = end - t0
    pool.wait_idle()
    drain_wait = drainer_wait(probe)

    busy_after, total_after = machine_ticks()
    cpu = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in others.items()}
    worker_cpu = [round(a - b, 1) for a, b in zip(pool.cpu_seconds(), workers_before, strict=True)]
    cpu["workers"] = round(sum(worker_cpu), 1)
    vk_after = sandbox.vk_stats()
    tokens_after = sandbox.vk_tokens()
    for merchant in merchants:
        before = tokens_before.get(merchant.vk_token, {}).get("requests", 0)
        merchant.vk_requests = tokens_after.get(merchant.vk_token, {}).get("requests", 0) - before
    errors = {
        code: n - int((vk_before.get("errors") or {}).get(code, 0))
        for code, n in (vk_after.get("errors") or {}).items()
        if n - int((vk_before.get("errors") or {}).get(code, 0))
    }
    return {
        "merchants": sum(not m.big for m in merchants),
        "products": max((m.products for m in merchants if not m.big), default=0),
        "big": [sum(m.big for m in merchants), max((m.products for m in merchants if m.big), default=0)],
        "slice_s": pool.config.get("SYNC_SLICE_SECONDS"),
        "workers": pool.count,
        "wall_s": round(wall, 1),
        "requested_s": round(requested_s, 2),
        # An Evotor webhook's drainer job asked for just after the fleet's syncs: how long it queued behind them.
        "drainer_wait_s": drain_wait,
        "vk_requests": vk_after["requests"] - vk_before["requests"],
        "vk_calls": vk_after["calls"] - vk_before["calls"],
        "vk_errors": errors,
        "error_6": errors.get("6", 0),
        "max_requests_in_1s": max((t["max_in_1s"] for t in tokens_after.values()), default=0),
        "cpu_s": cpu,
        "worker_cpu_s": worker_cpu,
        "machine_busy": round((busy_after - busy_before) / max(1, total_after - total_before), 3),
        # The share of the cores the measured processes used: the rest of "busy" was someone else's.
        "ours_busy": round(sum(cpu.values()) / wall / (os.cpu_count() or 1), 3),
        "cores": os.cpu_count(),
        "worker_peak_rss_mb": [round(x) for x in pool.peak_total_mb],
        "worker_peak_parent_mb": round(max(pool.peak_worker_mb, default=0)),
        "worker_peak_horse_mb": round(max(pool.peak_horse_mb, default=0)),
        "worker_peak_pss_mb": [round(x) for x in pool.peak_pss_mb],
    }


def _stats(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50": round(percentile(ordered, 0.50), 1) if ordered else None,
        "p95": round(percentile(ordered, 0.95), 1) if ordered else None,
        "max": round(ordered[-1], 1) if ordered else None,
    }


def _summarize(merchants: list[Merchant], figures: dict) -> dict:
    rows = []
    for m in merchants:
        run_s = max(m.finished - m.started, POLL_SECONDS)
        row = dict(m.row)
        row.update(
            user_id=m.user_id,
            wait_s=round(m.started - m.requested, 2),
            done_s=round(m.finished - m.requested, 2),
            run_s=round(run_s, 2),
            # The share of its token's 3 requests/s the merchant's run used (1.0 = VK's pace).
            pace=round(row["vk_requests"] / run_s / VK_PER_SECOND, 3),
        )
        rows.append(row)
    created = sum(r["created"] for r in rows)
    small = [r for r in rows if not r["big"]]  # with --big, the waits are those of the catalogs asked for after
    big = [r for r in rows if r["big"]]
    return {
        "items": created,
        "items_per_s": round(created / figures["wall_s"], 1) if figures["wall_s"] else None,
        "all_merchants": len(rows),
        "succeeded": sum(r["status"] == "succeeded" for r in rows),
        "vk_markets_right": sum(r["vk_matches_links"] and r["vk_live_items"] == r["created"] for r in rows),
        "wait": _stats([r["wait_s"] for r in small]),
        "done": _stats([r["done_s"] for r in small]),
        "run": _stats([r["run_s"] for r in small]),
        "big_done": _stats([r["done_s"] for r in big]),
        "big_runs": sum(r["runs"] for r in big),
        "pace": {"median": median(r["pace"] for r in rows), "min": min(r["pace"] for r in rows)},
        "per_merchant": rows,
    }


# --------------------------------------------------------------------------------------------- the report


def table(rounds: list[dict]) -> str:
    lines = [
        "| workers | items/s | wall s | wait p50/p95/max s | done p50/p95/max s | run p50 s | drainer wait s | "
        "pace med/min | "
        "ok | err 6 | max/1s | peak RSS MB (worker+horse) | peak PSS MB | "
        "CPU s: workers / sandbox / mariadbd / redis / bench | cores busy: ours / all |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        cpu = r["cpu_s"]
        lines.append(
            f"| {r['workers']} | {r['items_per_s']} | {r['wall_s']} | "
            f"{r['wait']['p50']} / {r['wait']['p95']} / {r['wait']['max']} | "
            f"{r['done']['p50']} / {r['done']['p95']} / {r['done']['max']} | {r['run']['p50']} | "
            f"{r['drainer_wait_s']} | "
            f"{r['pace']['median']:.2f} / {r['pace']['min']:.2f} | {r['succeeded']}/{r['all_merchants']} | "
            f"{r['error_6']} | {r['max_requests_in_1s']} | {max(r['worker_peak_rss_mb'], default=0)} "
            f"({r['worker_peak_parent_mb']}+{r['worker_peak_horse_mb']}) | {max(r['worker_peak_pss_mb'], default=0)} | "
            f"{cpu['workers']} / {cpu['sandbox']} / {cpu.get('mariadbd', '-')} / {cpu.get('redis-server', '-')} / "
            f"{cpu['bench']} | {round(100 * r['ours_busy'])} % / {round(100 * r['machine_busy'])} % of {r['cores']} |"
        )
    return "\n".join(lines)


def judge(results: dict) -> list[dict]:
    """Rows for bench/run.py's table: correctness is judged, speed and fairness are reported."""
    rows = []
    for r in results["rounds"]:
        rows.append(
            {
                "what": f"fleet {r['merchants']} x {r['products']}"
                + (f" after {r['big'][0]} x {r['big'][1]}, slice {r['slice_s']} s" if r["big"][0] else "")
                + f", {r['workers']} workers",
                "target": "every run succeeded, VK right; 0 x error 6, <= 3 requests/s per token",
                "figure": f"{r['items_per_s']} items/s; wait p50 {r['wait']['p50']} / p95 {r['wait']['p95']} / "
                f"max {r['wait']['max']} s; {r['succeeded']}/{r['all_merchants']} ok, {r['vk_markets_right']} markets "
                f"right; error 6 x {r['error_6']}, max {r['max_requests_in_1s']}/1 s",
                "met": r["succeeded"] == r["all_merchants"] == r["vk_markets_right"]
                and r["error_6"] == 0
                and r["max_requests_in_1s"] <= VK_PER_SECOND,
            }
        )
    return rows


def run(
    services: Services,
    merchants: int,
    products: int,
    workers: list[int],
    runs: int = 1,
    images_ratio: float = 0.0,
    big: tuple[int, int] = (0, 0),
    slice_seconds: float = 60.0,
    progress_to: str | None = None,
) -> dict:
    """{"rounds": [one per worker count and run]}: each round from an empty database, Redis and VK (each also
    appended to ``progress_to`` as a JSON line when given)."""
    rounds = []
    for count in workers:
        for n in range(runs):
            log(f"fleet: {merchants} merchants x {products} products, {count} workers (run {n + 1}/{runs})")
            figures = one_round(
                services,
                merchants,
                products,
                count,
                round_no=n,
                images_ratio=images_ratio,
                big=big,
                slice_seconds=slice_seconds,
            )
            log(
                f"fleet: {count} workers: {figures['items_per_s']} items/s, wall {figures['wall_s']} s, "
                f"wait p95 {figures['wait']['p95']} s"
            )
            rounds.append(figures)
            if progress_to:  # a long bench keeps every finished round, should a later one fail or be stopped
                with open(progress_to, "a", encoding="utf-8") as out:
                    out.write(json.dumps(figures, ensure_ascii=False, default=str) + "\n")
    return {"rounds": rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated (one round each)")
    parser.add_argument("--runs", type=int, default=1, help="rounds per worker count")
    parser.add_argument("--images-ratio", type=float, default=0.0, help="share of products with their own image")
    parser.add_argument("--json", help="write every round's figures (per merchant too) to this file")
    parser.add_argument("--big", default="0:0", help="K:P -- K merchants of P products asked for before the others")
    parser.add_argument("--slice", type=float, default=60.0, help="SYNC_SLICE_SECONDS of the workers (0: none)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    big = tuple(int(x) for x in args.big.split(":"))
    started = time.monotonic()
    with Services(mariadb=True) as services:
        results = run(
            services,
            args.merchants,
            args.products,
            counts,
            args.runs,
            args.images_ratio,
            big=big,
            slice_seconds=args.slice,
            progress_to=args.json + ".rounds" if args.json else None,
        )
    results["seconds"] = round(time.monotonic() - started)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    print(table(results["rounds"]))
    print(f"\n{args.merchants} merchants x {args.products} products; {results['seconds']} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
