"""The combined sandbox server: start/stop on a free port, both emulators mounted, control endpoints, demo, CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from evosync.sandbox import Sandbox
from evosync.sandbox.server import DEMO_EVOTOR_TOKEN, DEMO_VK_GROUP_ID, DEMO_VK_TOKEN

V2 = {"Accept": "application/vnd.evotor.v2+json"}
ROOT = Path(__file__).resolve().parents[2]


def evotor_get(sb, path: str, token: str = DEMO_EVOTOR_TOKEN, **params) -> requests.Response:
    return requests.get(sb.evotor_url + path, headers={**V2, "X-Authorization": token}, params=params, timeout=10)


def control(sb, path: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{sb.base_url}/_sandbox{path}", json=body or {}, timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_sandbox_starts_on_a_free_loopback_port_and_stops():
    """start() listens on 127.0.0.1:<free port> and exposes the agreed URLs; stop() frees the port."""
    first, second = Sandbox(seed=3).start(), Sandbox(seed=3).start()
    try:
        assert first.port != second.port and first.port > 0
        assert first.base_url == f"http://127.0.0.1:{first.port}"
        assert first.evotor_url == first.base_url + "/evotor"
        assert first.vk_url == first.base_url + "/vk/method"
        assert first.vkid_url == first.base_url + "/vkid"
        assert requests.get(first.base_url + "/_sandbox/health", timeout=5).json() == {"ok": True}
    finally:
        first.stop()
        second.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(first.base_url + "/_sandbox/health", timeout=5)
    first.stop()  # a second stop is harmless


def test_the_sandbox_fixture_starts_clean(sandbox):
    """The per-test fixture hands over a reset sandbox: no accounts, faults or counted requests."""
    assert sandbox.evotor.stats["requests"] == 0
    assert sandbox.evotor.faults.pending == [] and sandbox.evotor.faults.rate == 0
    assert sandbox.vk.faults.pending == []
    assert evotor_get(sandbox, "/stores").status_code == 401
    sandbox.evotor.faults.push("500")  # left behind on purpose: the next test must not see it


def test_seed_demo_creates_the_demo_merchant_on_both_sides(sandbox):
    """seed_demo: the Evotor demo token sees 2 stores (~60 products), the VK demo token administers 100001."""
    summary = sandbox.seed_demo()
    assert summary["vk_group_id"] == DEMO_VK_GROUP_ID == 100001
    stores = evotor_get(sandbox, "/stores").json()["items"]
    assert len(stores) == 2
    assert sum(s["products"] for s in summary["stores"]) == 60
    with_images = [
        p for s in stores for p in sandbox.evotor.products(s["id"]) if sandbox.evotor.images(s["id"], p["id"])
    ]
    assert with_images
    answer = requests.post(
        sandbox.vk_url + "/groups.getById",
        data={"access_token": DEMO_VK_TOKEN, "v": "5.199", "group_id": str(DEMO_VK_GROUP_ID)},
        timeout=10,
    ).json()
    assert "error" not in answer, answer
    assert "Демо-магазин EvoSync" in str(answer["response"])
    assert sandbox.seed_demo() == summary  # idempotent
    assert len(evotor_get(sandbox, "/stores").json()["items"]) == 2


def test_vk_and_vkid_are_mounted_on_the_same_server(sandbox):
    """/vk/method answers VK-style JSON (error 5 for a bad token) and /vkid is routed (not a 404)."""
    answer = requests.post(sandbox.vk_url + "/market.get", data={"access_token": "bad", "v": "5.199"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["error"]["error_code"] == 5
    assert requests.get(sandbox.vkid_url + "/authorize", timeout=10).status_code != 404


def test_stats_endpoint_reports_both_emulators(sandbox):
    """GET /_sandbox/stats returns the Evotor and VK counters as JSON, for other processes."""
    sandbox.seed_demo()
    evotor_get(sandbox, "/stores")
    evotor_get(sandbox, "/stores", token="wrong")
    stats = requests.get(sandbox.base_url + "/_sandbox/stats", timeout=10).json()
    assert stats["evotor"]["requests"] == 2 and stats["evotor"]["errors"] == 1
    assert stats["evotor"]["paths"] == {"GET /stores": 2}
    assert "requests" in stats["vk"]
    log = requests.get(sandbox.base_url + "/_sandbox/evotor/requests", timeout=10).json()
    assert [entry["status"] for entry in log] == [200, 401]


def test_faults_endpoint_pushes_configures_and_clears(sandbox):
    """POST /_sandbox/faults drives the faults of either emulator; bad input is a 400."""
    sandbox.seed_demo()
    assert control(sandbox, "/faults", {"api": "evotor", "push": "503", "method": "stores"}).status_code == 200
    assert evotor_get(sandbox, "/stores").status_code == 503
    assert evotor_get(sandbox, "/stores").status_code == 200
    settings = control(sandbox, "/faults", {"api": "evotor", "rate": 1.0, "kinds": ["429"], "seed": 3}).json()
    assert settings["rate"] == 1.0 and settings["kinds"] == ["429"]
    assert evotor_get(sandbox, "/stores").status_code == 429
    control(sandbox, "/faults", {"api": "evotor", "clear": True})
    assert evotor_get(sandbox, "/stores").status_code == 200
    vk = control(sandbox, "/faults", {"api": "vk", "push": "6", "method": "market.get", "timeout_seconds": 0.2})
    assert vk.json()["pending"] == [{"kind": "6", "method": "market.get"}]
    assert sandbox.vk.faults.timeout_seconds == 0.2
    assert control(sandbox, "/faults", {"api": "ozon"}).status_code == 400
    assert control(sandbox, "/faults", {"api": "vk", "rate": 2}).status_code == 400


def test_reset_endpoint_clears_everything(sandbox):
    """POST /_sandbox/reset forgets accounts, faults and counters of both emulators."""
    sandbox.seed_demo()
    sandbox.evotor.faults.push("500", method="products")
    evotor_get(sandbox, "/stores")
    assert control(sandbox, "/reset").json() == {"ok": True}
    assert sandbox.evotor.stats["requests"] == 0 and sandbox.evotor.faults.pending == []
    assert evotor_get(sandbox, "/stores").status_code == 401
    assert requests.get(f"{sandbox.base_url}/_sandbox/vk/items?group_id=100001", timeout=10).json() == []


def test_evotor_control_endpoints_let_other_processes_shape_the_data(sandbox):
    """Accounts, seeding, settings, 402, revocation and product edits are all reachable over HTTP."""
    assert control(sandbox, "/evotor/accounts", {"token": "bench"}).json()["user_id"].startswith("01-")
    summary = control(sandbox, "/evotor/seed", {"token": "bench", "n_products": 12, "seed": 4}).json()
    store_id = summary["stores"][0]
    assert summary["products"] == 12
    assert control(sandbox, "/evotor/settings", {"page_size": 50}).json()["page_size"] == 50
    products = evotor_get(sandbox, f"/stores/{store_id}/products", token="bench").json()
    assert len(products["items"]) == 12 and products["paging"] == {}

    since = sandbox.evotor.now_ms()
    target = products["items"][3]
    edited = control(
        sandbox, f"/evotor/stores/{store_id}/products/{target['id']}", {"token": "bench", "fields": {"price": 9.9}}
    )
    assert edited.json()["price"] == 9.9
    changed = evotor_get(sandbox, f"/stores/{store_id}/products", token="bench", since=since).json()["items"]
    assert [p["id"] for p in changed] == [target["id"]]

    removed = requests.delete(
        f"{sandbox.base_url}/_sandbox/evotor/stores/{store_id}/products/{target['id']}?token=bench", timeout=10
    )
    assert removed.status_code == 200
    assert evotor_get(sandbox, f"/stores/{store_id}/products/{target['id']}", token="bench").status_code == 404

    control(sandbox, f"/evotor/stores/{store_id}/payment-required", {"required": True})
    assert evotor_get(sandbox, f"/stores/{store_id}/products", token="bench").status_code == 402
    assert control(sandbox, "/evotor/stores/nope/payment-required", {"required": True}).status_code == 404
    control(sandbox, "/evotor/tokens/revoke", {"token": "bench"})
    assert evotor_get(sandbox, "/stores", token="bench").status_code == 401
    assert control(sandbox, "/evotor/settings", {"images_list_shape": "round"}).status_code == 400


def test_vk_items_endpoint_needs_a_group_id(sandbox):
    """GET /_sandbox/vk/items without group_id is a 400; with one it is a JSON list."""
    assert requests.get(sandbox.base_url + "/_sandbox/vk/items", timeout=10).status_code == 400
    sandbox.seed_demo()
    assert requests.get(f"{sandbox.base_url}/_sandbox/vk/items?group_id=100001", timeout=10).json() == []


def test_python_dash_m_runs_the_demo_sandbox_in_the_foreground():
    """`python -m evosync.sandbox --port N --demo` serves the demo merchant and stops cleanly on SIGTERM."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "evosync.sandbox", "--port", str(port), "--demo", "--quiet"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.monotonic() < deadline, "sandbox did not start in 20 s"
                time.sleep(0.1)
        stores = requests.get(
            base + "/evotor/stores", headers={**V2, "X-Authorization": DEMO_EVOTOR_TOKEN}, timeout=5
        ).json()
        assert len(stores["items"]) == 2
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0, output
    assert "sandbox ready" in output
