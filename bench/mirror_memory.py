"""Bench: wall time and peak RSS of one Evotor catalog refresh of N products, sandbox -> the given database.

The sandbox runs in its own process (its in-memory catalog must not count against ours); this process
builds the app on ``database_url`` (migrating it to head), adds a throwaway merchant, runs
``refresh_catalog`` once while a thread samples VmRSS every 10 ms, then deletes the merchant.

    python bench/mirror_memory.py --products 50000 --database-url sqlite:////tmp/bench.db
    run(50_000, "mysql+pymysql://...") -> {"seconds": ..., "rows_per_second": ..., "rss_peak_mb": ...}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """This process's resident set size now (Linux /proc; falls back to the lifetime peak)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class RssSampler:
    """Samples RSS in a thread and keeps the maximum seen."""

    def __init__(self, interval: float = 0.01):
        self.interval = interval
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox() -> tuple[subprocess.Popen, str]:
    """``python -m evosync.sandbox`` on a free port; returns the process and its base url once it answers."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "evosync.sandbox", "--port", str(port), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/_sandbox/health", timeout=1).ok:
                return process, base
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("sandbox did not start")


@contextlib.contextmanager
def running_sandbox() -> Iterator[str]:
    """The emulators in a process of their own for the block (its base URL); stopped however the block ends."""
    process, base = start_sandbox()
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def forget_merchant(user_id: int) -> str:
    """Delete the bench's merchant (its rows go with it: ON DELETE CASCADE), let go of the database connections;
    the database's dialect name, for the figures."""
    from evosync.extensions import db
    from evosync.models import User

    db.session.delete(db.session.get(User, user_id))
    db.session.commit()
    dialect = db.engine.dialect.name
    db.engine.dispose()
    return dialect


def _time_searches(user_id: int) -> dict[str, float]:
    """Milliseconds for a products page (count + 50 rows) by name, code, barcode, and unfiltered."""
    import sqlalchemy as sa

    from evosync.extensions import db
    from evosync.models import CachedProduct
    from evosync.services.evotor_catalog.pages import product_page

    sample = db.session.execute(
        sa.select(CachedProduct.store_evotor_id, CachedProduct.name, CachedProduct.code, CachedProduct.barcodes_text)
        .filter_by(user_id=user_id)
        .where(CachedProduct.barcodes_text != "")
        .limit(1)
    ).one()
    queries = {
        "all": "",
        "name": sample.name.split()[0][1:5],
        "code": sample.code,
        "barcode": sample.barcodes_text.split()[0],
        "miss": "zzzz-nothing",
    }
    timings = {}
    for label, query in queries.items():
        t0 = time.perf_counter()
        product_page(user_id, sample.store_evotor_id, query=query, page=3)
        timings[label] = round((time.perf_counter() - t0) * 1000, 1)
    return timings


def run(
    n_products: int,
    database_url: str,
    *,
    page_size: int = 1000,
    chunk_size: int = 500,
    image_checks: int = 0,
    with_images_ratio: float = 0.0,
) -> dict:
    """Refresh an ``n_products`` catalog once into ``database_url``; returns timings and memory figures."""
    from flask_migrate import upgrade

    from evosync import create_app
    from evosync.extensions import db
    from evosync.models import ConnectionState, EvotorConnection, User
    from evosync.services.evotor_catalog import refresh as evotor_catalog

    token = f"bench-{uuid.uuid4().hex}"
    with running_sandbox() as base:
        started = time.monotonic()
        requests.post(base + "/_sandbox/evotor/settings", json={"page_size": page_size}, timeout=30).raise_for_status()
        seeded = requests.post(
            base + "/_sandbox/evotor/seed",
            json={"token": token, "n_products": n_products, "with_images_ratio": with_images_ratio},
            timeout=600,
        )
        seeded.raise_for_status()
        seed_seconds = time.monotonic() - started

        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "EVOTOR_API_URL": base + "/evotor",
                "RUN_JOBS_INLINE": True,
                "LOG_LEVEL": "WARNING",
            }
        )
        with app.app_context():
            upgrade(directory=str(ROOT / "migrations"))
            user = User(email=f"{token}@bench.invalid", password=None, fs_uniquifier=uuid.uuid4().hex)
            db.session.add(user)
            db.session.flush()
            db.session.add(EvotorConnection(user_id=user.id, access_token=token, state=ConnectionState.CONNECTED))
            db.session.commit()
            user_id = user.id
            db.session.expire_all()

            baseline = rss_mb()
            t0 = time.perf_counter()
            with RssSampler() as sampler:
                summary = evotor_catalog.mirror_catalog(user_id, chunk_size=chunk_size, image_checks=image_checks)
            seconds = time.perf_counter() - t0
            search_ms = _time_searches(user_id)
            t1 = time.perf_counter()
            second = evotor_catalog.mirror_catalog(user_id, chunk_size=chunk_size, image_checks=image_checks)
            unchanged_seconds = time.perf_counter() - t1
            dialect = forget_merchant(user_id)

    return {
        "n_products": n_products,
        "database": dialect,
        "status": summary.status,
        "reason": summary.reason,
        "products_added": summary.products_added,
        "images_checked": summary.images_checked,
        "page_size": page_size,
        "chunk_size": chunk_size,
        "sandbox_seed_seconds": round(seed_seconds, 2),
        "seconds": round(seconds, 2),
        "rows_per_second": round(summary.products_added / seconds) if seconds else None,
        "unchanged_refresh_seconds": round(unchanged_seconds, 2),
        "unchanged_refresh_updated": second.products_updated,
        "search_ms": search_ms,
        "rss_baseline_mb": round(baseline, 1),
        "rss_peak_mb": round(sampler.peak, 1),
        "rss_growth_mb": round(sampler.peak - baseline, 1),
        "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or "sqlite:////tmp/evosync-bench-mirror.db",
        help="database to refresh into (default: DATABASE_URL, else a SQLite file in /tmp)",
    )
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--image-checks", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(
        args.products,
        args.database_url,
        page_size=args.page_size,
        chunk_size=args.chunk_size,
        image_checks=args.image_checks,
    )
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
