"""Fan-out: the periodic jobs that ask, for each merchant due some work, for one job of that work.

* ``fanout_catalog_refresh``: an Evotor refresh (then the VK sync) for each merchant whose account is active and
  whose Evotor connection is connected and not paused (``services/refreshes.py``).
* ``fanout_vk_refresh``: a VK mirror refresh for each merchant with a usable VK connection.

Who is due is ``services/eligibility.py``; a merchant already queued or running is skipped with that reason.
Every skipped merchant is logged with its reason; the fan-out's result counts them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..models import utcnow
from ..services.eligibility import evotor_merchant_rows, evotor_row_skip_reason, vk_merchant_rows, vk_row_skip_reason
from ..services.refreshes import REFRESH_CATALOG, REFRESH_VK_CATALOG, request_catalog_refresh, request_vk_refresh

log = logging.getLogger(__name__)


@dataclass
class FanOut:
    """What one fan-out did: merchants enqueued and merchants skipped (user id -> reason)."""

    kind: str
    enqueued: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)

    def skip(self, user_id: int, reason: str) -> None:
        self.skipped[user_id] = reason
        log.info("fan-out skipped a merchant", extra={"kind": self.kind, "user_id": user_id, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "enqueued": list(self.enqueued),
            "skipped": {str(uid): reason for uid, reason in self.skipped.items()},
        }


def fan_out(
    kind: str, rows: Iterable, skip_reason: Callable[[Any, Any], str | None], request: Callable[[int], str | None]
) -> FanOut:
    """For each merchant row: the reason to skip it, else ``request(user_id)`` (None when queued, else why not)."""
    result = FanOut(kind)
    now = utcnow()
    for row in rows:
        reason = skip_reason(row, now) or request(row.id)
        if reason:
            result.skip(row.id, reason)
        else:
            result.enqueued.append(row.id)
    log.info(
        "fan-out done", extra={"kind": result.kind, "enqueued": len(result.enqueued), "skipped": len(result.skipped)}
    )
    return result


def fanout_catalog_refresh() -> dict[str, Any]:
    """Periodic: one Evotor catalog refresh job per active merchant with a live, unpaused Evotor connection."""
    return fan_out(REFRESH_CATALOG, evotor_merchant_rows(), evotor_row_skip_reason, request_catalog_refresh).as_dict()


def fanout_vk_refresh() -> dict[str, Any]:
    """Periodic: one VK catalog refresh job per active merchant with a live, unpaused VK connection."""
    return fan_out(REFRESH_VK_CATALOG, vk_merchant_rows(), vk_row_skip_reason, request_vk_refresh).as_dict()
