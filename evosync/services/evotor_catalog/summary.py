"""What one merchant's catalog refresh reports: its outcome, counts and skipped stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any


def N_(message: str) -> str:
    """Mark a message for translation without translating it now.

    Messages stored in the database are kept as their English msgid (refreshes run in workers,
    outside any request and its language) and translated when a page shows them: ``_(conn.last_error)``.
    """
    return message


CHUNK_SIZE = 500
DEFAULT_IMAGE_CHECKS_PER_REFRESH = 1000
ALL_IMAGES = 2**31 - 1  # a refresh's image budget when every image due must be looked up

# Outcomes of one user's refresh.
OK = "ok"
NOT_CONNECTED = "not_connected"
PAUSED = "paused"
BROKEN = "broken"
FAILED = "failed"
COALESCED = "coalesced"  # another refresh of this merchant was running: it covers this one

GROUP_FIELDS = ("parent_id", "name", "attributes", "evotor_updated_at")


@dataclass
class SkippedStore:
    store_id: str
    name: str
    reason: str


@dataclass
class RefreshSummary:
    """What one user's refresh did; ``status`` is ok, not_connected, paused, broken, failed or coalesced."""

    user_id: int
    status: str = OK
    reason: str = ""
    stores_added: int = 0
    stores_updated: int = 0
    stores_removed: int = 0
    groups_added: int = 0
    groups_updated: int = 0
    groups_removed: int = 0
    products_added: int = 0
    products_updated: int = 0
    products_removed: int = 0
    products_seen: int = 0
    images_checked: int = 0
    images_pending: int = 0
    skipped_stores: list[SkippedStore] = field(default_factory=list)
    paused_until: dt.datetime | None = None
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == OK

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paused_until"] = self.paused_until.isoformat() if self.paused_until else None
        return data

    def lines(self) -> list[str]:
        """A human summary, one fact a line (the CLI prints it)."""
        head = f"user {self.user_id}: {self.status}" + (f" ({self.reason})" if self.reason else "")
        out = [head]
        if self.status in (OK, FAILED, BROKEN, PAUSED) and (self.products_seen or self.stores_added):
            out.append(
                f"  stores +{self.stores_added} ~{self.stores_updated} -{self.stores_removed}; "
                f"groups +{self.groups_added} ~{self.groups_updated} -{self.groups_removed}; "
                f"products +{self.products_added} ~{self.products_updated} -{self.products_removed} "
                f"({self.products_seen} listed); images checked {self.images_checked}, "
                f"pending {self.images_pending}"
            )
        for skipped in self.skipped_stores:
            out.append(f"  skipped store {skipped.store_id} {skipped.name!r}: {skipped.reason}")
        out.append(f"  took {self.duration_seconds:.2f}s")
        return out
