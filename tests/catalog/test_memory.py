"""A 20,000-product refresh in a separate process keeps its peak RSS bounded (bench/mirror_memory.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import services

ROOT = Path(__file__).resolve().parents[2]
PEAK_RSS_BOUND_MB = 250
GROWTH_BOUND_MB = 80  # ids of the store seen so far (~2 MB) plus one chunk; nothing proportional to rows


def test_refresh_of_20000_products_stays_under_the_memory_bound(tmp_path):
    """The bench script mirrors 20,000 products from a sandbox process; peak RSS < 250 MB, growth < 80 MB."""
    database_url = services.test_database_url(tmp_path)  # this worker's MariaDB database, or a SQLite file of its own
    result = subprocess.run(
        [sys.executable, "bench/mirror_memory.py", "--products", "20000", "--database-url", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith('{"n_products"')]
    assert result.returncode == 0 and lines, result.stdout[-2000:] + result.stderr[-2000:]
    figures = json.loads(lines[-1])
    assert figures["status"] == "ok" and figures["products_added"] == 20000
    assert figures["rss_peak_mb"] < PEAK_RSS_BOUND_MB, figures
    assert figures["rss_growth_mb"] < GROWTH_BOUND_MB, figures
