"""What one VK catalog refresh did: its status, counts and reason (with the words for the page)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class VkCatalogRefresh:
    """What one merchant's refresh did; ``status`` is ok, skipped or failed, ``message`` is for people."""

    user_id: int
    status: str = "ok"
    reason: str = "ok"  # a key of ``explain``: the page words it in the reader's language
    params: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    error_code: int | None = None
    albums: int = 0
    products: int = 0
    products_added: int = 0
    products_updated: int = 0
    products_removed: int = 0
    albums_added: int = 0
    albums_updated: int = 0
    albums_removed: int = 0
    vk_requests: int = 0
    vk_calls: int = 0
    finished_at: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
