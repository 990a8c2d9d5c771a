"""Load (make soak): gunicorn + MariaDB + Redis on loopback, 50 merchants browsing and 200 concurrent webhook
deliveries at a time, for LOAD_SECONDS (60 by default): not one error.

Everything is started here (bench.common.Services, as .ci/run does: redis-server and mariadbd in a temp dir on
free ports; the Evotor/VK sandbox in its own process) and stopped at the end; the run is bounded by
LOAD_SECONDS plus set-up. Figures are printed (run with -s) and recorded in docs/RELIABILITY.md.

    .venv/bin/pytest tests/hardening/test_load.py -m slow -s
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bench.common import (
    PASSWORD,
    ROOT,
    SandboxProcess,
    Services,
    add_merchant,
    app_config,
    free_port,
    make_app,
    percentile,
    stop_process,
    user_email,
    wait_until,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (shutil.which("mariadbd") and shutil.which("redis-server")), reason="needs MariaDB, Redis"),
]

SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
MERCHANTS = 50
DELIVERIES = 200  # concurrent webhook deliveries per wave
WAVE_EVERY = 10.0  # seconds between waves
PRODUCTS_EACH = 40
GUNICORN_WORKERS = 2 * (os.cpu_count() or 1) + 1  # gunicorn's own advice
WEBHOOK_SECRET = "load-webhook-secret"
PAGES = [
    "/sync",
    "/connections",
    "/catalog/stores",
    "/catalog/stores/{store}/products",
    "/catalog/stores/{store}/groups",
    "/vk-catalog/albums",
    "/sync/settings",
    "/profile",
    "/api/sync/status",
]


class Merchant:
    def __init__(self, user_id: int, email: str, evotor_user_id: str, store_id: str, product_ids: list[str]):
        self.user_id, self.email, self.evotor_user_id = user_id, email, evotor_user_id
        self.store_id, self.product_ids = store_id, product_ids


def _prepare(services: Services, sandbox: SandboxProcess) -> list[Merchant]:
    """50 merchants, each with an Evotor store of PRODUCTS_EACH products mirrored into MariaDB."""
    from evosync.extensions import db
    from evosync.models import CachedProduct, EvotorConnection
    from evosync.services.evotor_catalog.refresh import refresh_catalog
    from evosync.services.evotor_catalog.scope import set_store_enabled

    app = make_app(services.mariadb_url, services.redis_url, sandbox.base_url)
    merchants = []
    with app.app_context():
        for n in range(MERCHANTS):
            token = f"load-evotor-{n}-{uuid.uuid4().hex[:8]}"
            seeded = sandbox.seed_evotor(token, PRODUCTS_EACH, seed=n + 1, with_images_ratio=0.0)
            user_id = add_merchant(token, f"load-vk-{n}", 930000 + n)
            conn = db.session.scalar(db.select(EvotorConnection).filter_by(user_id=user_id))
            conn.evotor_user_id = seeded["user_id"]
            db.session.commit()
            assert refresh_catalog(user_id).status == "ok"
            store = seeded["stores"][0] if isinstance(seeded["stores"][0], str) else seeded["stores"][0]["id"]
            set_store_enabled(user_id, store, True)
            ids = list(db.session.scalars(db.select(CachedProduct.evotor_id).filter_by(user_id=user_id)))
            merchants.append(Merchant(user_id, user_email(user_id), seeded["user_id"], store, ids))
        db.session.remove()
        db.engine.dispose()
    return merchants


def _serve(services: Services, port: int) -> subprocess.Popen:
    config = app_config(services.mariadb_url, services.redis_url)
    env = {
        **os.environ,
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": config["REDIS_URL"],
        "SECRET_KEY": config["SECRET_KEY"],
        "EVOTOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "LOG_LEVEL": "WARNING",
        "EVOSYNC_ENV": "development",  # plain http on loopback: cookies without the Secure flag
        "EVOSYNC_DOTENV": "/nonexistent.env",
        "RUN_JOBS_INLINE": "false",  # debounced syncs go to Redis; no worker runs here
    }
    proc = subprocess.Popen(
        # as the Dockerfile and docker-compose run it: sync workers (one request each, no keep-alive)
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(GUNICORN_WORKERS)]
        + ["--timeout", "60", "--log-level", "warning", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(base + "/health", timeout=2).status_code == 200, 60, "gunicorn")
    return proc


def _login(base: str, email: str) -> requests.Session:
    session = requests.Session()
    form = session.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', form
    )
    data = {"email": email, "password": PASSWORD, "csrf_token": token.group(1) if token else ""}
    answer = session.post(base + "/login", data=data, allow_redirects=False, timeout=30)
    assert answer.status_code in (302, 303), answer.text[:300]
    return session


class Tally:
    """Thread-safe counts, errors and latencies per kind of request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = {"page": [], "webhook": []}
        self.errors: list[str] = []

    def add(self, kind: str, seconds: float, problem: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if problem:
                self.errors.append(problem)


def _browse(base: str, merchant: Merchant, session: requests.Session, until: float, tally: Tally) -> None:
    rnd = random.Random(merchant.user_id)
    while time.monotonic() < until:
        path = rnd.choice(PAGES).format(store=merchant.store_id)
        started = time.perf_counter()
        try:
            resp = session.get(base + path, timeout=30, allow_redirects=False)
            problem = None if resp.status_code == 200 else f"GET {path}: {resp.status_code}"
        except requests.RequestException as exc:
            problem = f"GET {path}: {type(exc).__name__} {str(exc)[:160]}"
        tally.add("page", time.perf_counter() - started, problem)


def _event(merchant: Merchant, n: int, stamp_base: dt.datetime) -> bytes:
    stamp = (stamp_base + dt.timedelta(milliseconds=n)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    event = {
        "id": f"load-{uuid.uuid4().hex}",
        "timestamp": int(stamp_base.timestamp() * 1000) + n,
        "type": "ProductEvent",
        "action": "updated",
        "payload": {
            "id": merchant.product_ids[n % len(merchant.product_ids)],
            "store_id": merchant.store_id,
            "user_id": merchant.evotor_user_id,
            "price": 100 + n % 900,
            "quantity": n % 40,
            "updated_at": stamp,
        },
    }
    return json.dumps(event, separators=(",", ":")).encode()


def _deliver(base: str, body: bytes, tally: Tally) -> None:
    digest = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"}
    started = time.perf_counter()
    try:
        resp = requests.post(base + "/evotor/events/catalog", data=body, headers=headers, timeout=30)
        problem = None if resp.status_code == 200 else f"webhook: {resp.status_code} {resp.text[:120]}"
    except requests.RequestException as exc:
        problem = f"webhook: {type(exc).__name__} {str(exc)[:160]}"
    tally.add("webhook", time.perf_counter() - started, problem)


def _figures(values: list[float]) -> dict:
    ordered = sorted(values)
    ms = lambda share: round(1000 * (percentile(ordered, share) or 0), 1)  # noqa: E731
    return {"requests": len(values), "p50_ms": ms(0.5), "p95_ms": ms(0.95), "p99_ms": ms(0.99)}


def test_50_merchants_browsing_and_200_concurrent_webhooks_for_60_seconds_without_an_error():
    """For LOAD_SECONDS, 50 logged-in merchants click through their pages while waves of 200 signed catalog
    events arrive at once every 10 s: every page answers 200 with the merchant's own page, every delivery 200,
    nothing times out; afterwards every event was recorded once, the drainer applies every one, and /health is
    still ok."""
    with Services(mariadb=True) as services, SandboxProcess() as sandbox:
        merchants = _prepare(services, sandbox)
        port = free_port()
        gunicorn = _serve(services, port)
        base = f"http://127.0.0.1:{port}"
        try:
            sessions = [_login(base, m.email) for m in merchants]
            tally = Tally()
            started = time.monotonic()
            until = started + SECONDS
            browsers = [
                threading.Thread(target=_browse, args=(base, m, s, until, tally), daemon=True)
                for m, s in zip(merchants, sessions, strict=True)
            ]
            for thread in browsers:
                thread.start()
            stamp_base = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # newer than the mirror: each applies
            waves, sent = 0, 0
            with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
                while time.monotonic() < until:
                    bodies = [_event(merchants[i % MERCHANTS], sent + i, stamp_base) for i in range(DELIVERIES)]
                    list(pool.map(lambda body: _deliver(base, body, tally), bodies))
                    waves, sent = waves + 1, sent + DELIVERIES
                    time.sleep(max(0.0, min(WAVE_EVERY, until - time.monotonic())))
            for thread in browsers:
                thread.join(timeout=60)
            elapsed = time.monotonic() - started
            health = requests.get(base + "/health", timeout=10)
        finally:
            stop_process(gunicorn, timeout=20)
        app = make_app(services.mariadb_url, services.redis_url, RUN_JOBS_INLINE=False)  # syncs go to RQ, not run
        with app.app_context():
            from evosync.extensions import db
            from evosync.models import WebhookEvent
            from evosync.services.evotor_events.queue import drain_events

            recorded = db.session.scalar(db.select(db.func.count()).select_from(WebhookEvent))
            drained = drain_events(linger=0)  # no worker ran: the queued events are applied here, as it would
            db.session.remove()
            db.engine.dispose()
    figures = {
        "seconds": round(elapsed, 1),
        "merchants": MERCHANTS,
        "webhook_waves": waves,
        "pages": _figures(tally.latencies["page"]),
        "webhooks": _figures(tally.latencies["webhook"]),
        "pages_per_second": round(len(tally.latencies["page"]) / elapsed, 1),
        "errors": len(tally.errors),
        "events_recorded": recorded,
        "events_applied": drained.by_status,
    }
    print("load figures", json.dumps(figures))
    assert tally.errors == [], tally.errors[:20]
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert waves >= 1 and len(tally.latencies["webhook"]) == sent
    assert len(tally.latencies["page"]) > MERCHANTS * max(1, SECONDS // 10), "the merchants really browsed"
    assert recorded == sent, "every delivery recorded once"
    assert drained.by_status == {"applied": sent}, "and applied once the drainer ran"
