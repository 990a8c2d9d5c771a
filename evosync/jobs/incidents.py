"""Periodic job: check every merchant for a stalled or failing sync, open and close incidents, alert once each way."""

from __future__ import annotations

from typing import Any

from ..services.incidents import check_all


def check_incidents_job() -> dict[str, Any]:
    """Run the incident check (services/incidents) and return its summary (RQ keeps it as the result)."""
    return check_all().as_dict()
