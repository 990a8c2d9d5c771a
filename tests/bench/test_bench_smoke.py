"""The benchmark scripts still run: tiny sizes of the pieces `make bench` uses (the figures are not judged)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from bench import load_bench, mirror_bench, run, sync_bench, variants_bench, webhook_bench
from bench.common import SandboxProcess, Services, floor_seconds, medians, percentile


@pytest.fixture(scope="module")
def services():
    with Services() as started:
        yield started


def test_sync_bench_counts_a_first_sync_and_the_re_syncs(services):
    """A 40-product first sync publishes every product and is counted; the re-syncs write nothing / 1 item."""
    result = sync_bench.one_run(services, 40)
    first, unchanged, changed = result["first"], result["unchanged"], result["changed"]
    assert first["status"] == "succeeded" and first["created"] >= 35
    # bulk photos: one add per item, one save and one upload per 5 photos (VK_PHOTO_BULK_FILES)
    saves = -(-first["created"] // 5)
    assert first["calls"] >= first["created"] + saves and first["uploads"] >= saves
    assert first["floor_s"] == round(floor_seconds(first["calls"]), 1) and first["wall_over_floor"] > 0
    assert unchanged["writes"] == 0 and unchanged["mirror_requests"] >= 1
    assert changed["changed_products"] == 1 and changed["updated"] == 1 and changed["writes"] >= 1
    rows = sync_bench.judge({40: sync_bench.summarize([result])})
    assert [r["what"].split(",")[0] for r in rows] == ["first sync", "unchanged re-sync", "1 % changed (1 of 40)"]


def test_sync_bench_under_a_bulk_refusal_and_with_images_to_look_up(services):
    """A fallback path (VK does not know the bulk save): the single flow's 2 calls per item, nothing lost; and the
    image look-up run: every published item's photo right, nothing written after an unchanged refresh."""
    fallback = sync_bench.run(services, [40], 1, readings="photo_bulk=unknown_method")[40]
    first = fallback["runs"][0]["first"]
    assert first["status"] == "succeeded" and first["calls"] >= 2 * first["created"]
    assert sync_bench.judge_fallbacks({"photo_bulk=unknown_method": fallback})[0]["met"] is True
    images = sync_bench.run(services, [40], 1, image_lookup=True)
    first = images[40]["runs"][0]["first"]
    assert first["images_pending_before"] == 36 and first["photos_wrong"] == 0 and first["photos_right"] >= 35
    assert sync_bench.judge_images(images)[0]["met"] is True


def test_variants_bench_publishes_a_card_and_groups_after_the_switch(services):
    """30 products (one T-shirt of 8 variants): with the mode on they make one card; with it switched on after a
    first publication the same items are grouped (nothing created)."""
    cards = variants_bench.scenario(services, 30, "cards", 0)
    assert cards["status"] == "succeeded" and cards["cards"] == 1 and cards["card_calls"] >= 3
    switch = variants_bench.scenario(services, 30, "switch", 0)
    assert switch["status"] == "succeeded" and switch["created"] == 0 and switch["cards"] == 1


def test_mirror_bench_runs_the_memory_script(services):
    """The wrapped bench/mirror_memory.py refreshes a small catalog in its own process and reports RSS."""
    figures = mirror_bench.one_run(60, services.sqlite_url("smoke-mirror"), services.redis_url)
    assert figures["status"] == "ok" and figures["products_added"] == 60
    assert figures["rss_peak_mb"] > 0 and figures["seconds"] > 0


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_figures_and_the_signed_event_script():
    """wrk's Lua hook yields req/s and p95; the webhook script sends the file's signed bodies (here refused)."""
    with SandboxProcess() as sandbox, tempfile.TemporaryDirectory() as directory:
        health = load_bench.run_wrk(sandbox.base_url + "/_sandbox/health", 1, "", connections=4, threads=1)
        assert health["requests"] > 0 and health["errors"] == 0 and health["p95_ms"] >= health["p50_ms"]

        class Target:  # what write_events reads from a LoadTarget
            product_ids = ["p-1", "p-2"]
            store_id, evotor_user_id = "s-1", "01-000000000000001"

        events = webhook_bench.write_events(Target, 10, directory)
        signature, body = Path(events).read_text().splitlines()[0].split("\t")
        assert signature.startswith("sha1=") and '"ProductEvent"' in body
        posted = load_bench.run_wrk(
            sandbox.base_url + "/_sandbox/health",
            1,
            webhook_bench.EVENTS_LUA,
            script_args=[str(events), "1"],
            connections=2,
            threads=1,
        )
        assert posted["requests"] > 0 and posted["non_2xx"] == posted["requests"]  # health takes GET only


def test_results_file_holds_the_targets_table(tmp_path):
    """RESULTS.md carries cores, commit, the targets table and a loaded-machine note when load > cores."""
    report = {
        "machine": {
            "cores": 2,
            "cpu": "x86_64",
            "python": "3.11",
            "date": "today",
            "commit": "abc123",
            "load_before": [9.0, 9.0, 9.0],
            "load_after": [8.0, 8.0, 8.0],
        },
        "results": {},
        "rows": [{"what": "webhook intake", "target": ">= 300 events/s", "figure": "350 events/s", "met": True}],
        "seconds": 75,
    }
    run.write_results(report, tmp_path / "RESULTS.md")
    text = (tmp_path / "RESULTS.md").read_text()
    assert (
        "2 cores" in text and "abc123" in text and "| webhook intake | >= 300 events/s | 350 events/s | met |" in text
    )
    assert "loaded 2-core machine" in text
    assert medians([{"a": 1, "b": "x"}, {"a": 3, "b": "x"}, {"a": 2, "b": "x"}]) == {"a": 2, "b": "x"}
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95) == 10


def test_profile_requests_measures_cpu_and_wall_per_call():
    """bench/profile_requests.py's timer: medians of CPU and wall per call, over the calls after a warm-up."""
    from bench import profile_requests

    calls = []
    figures = profile_requests._measure("smoke", lambda: calls.append(sum(range(20_000))), 30, None)
    assert len(calls) == 20 + 30  # the warm-up, then the measured calls
    assert figures["requests"] == 30
    assert figures["cpu_ms_median"] > 0
    assert 0 < figures["wall_ms_median"] <= figures["wall_ms_p95"]
