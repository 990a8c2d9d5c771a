"""Daily housekeeping job: old sync runs, old webhook event ids, RQ's finished entries (services/housekeeping.py)."""

from __future__ import annotations

from typing import Any

from ..services.housekeeping import run_housekeeping


def housekeeping_job() -> dict[str, Any]:
    """Periodic (daily) job."""
    return run_housekeeping()
