"""What the apply modules share: what applying a plan reports (ApplyResult), the VK errors that stop a run or
leave it uncertain, and batching."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ...clients.errors import (
    VkAccessDenied,
    VkApiError,
    VkAuthError,
    VkCaptchaNeeded,
    VkFloodControl,
    VkInternalError,
    VkMarketDisabled,
    VkTooManyRequests,
    VkTransportError,
)

FATAL_ERRORS = (VkAuthError, VkAccessDenied, VkMarketDisabled, VkFloodControl, VkCaptchaNeeded)
TRANSIENT_ERRORS = (VkTooManyRequests, VkInternalError, VkTransportError)


class SyncStopped(Exception):
    """VK refused the merchant's token, rights or pace: the run stops, the merchant is told why."""

    def __init__(self, error: VkApiError):
        super().__init__(error.message)
        self.error = error


@dataclass
class ApplyResult:
    created: int = 0
    updated: int = 0
    removed: int = 0
    duplicates_removed: int = 0  # copies of one product beyond its one item (self-healing)
    restored: int = 0
    failed: int = 0
    albums_changed: int = 0
    photos_uploaded: int = 0
    cards_grouped: int = 0
    cards_ungrouped: int = 0
    properties_created: int = 0  # VK properties and property variants
    calls: int = 0
    uncertain: bool = False  # some write's fate is unknown, or a batch failed for a passing reason
    sliced: int = 0  # items with a photo to make left for the next run: the run's time slice was used up
    failures: dict = field(default_factory=dict)  # "store:product" -> {"title", "reason"}
    succeeded: set = field(default_factory=set)  # "store:product" written fine (clears an earlier pass's failure)

    def merge(self, other: ApplyResult) -> None:
        for name in (
            "created",
            "updated",
            "removed",
            "duplicates_removed",
            "restored",
            "albums_changed",
            "photos_uploaded",
            "cards_grouped",
            "cards_ungrouped",
            "properties_created",
            "calls",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key in other.succeeded:
            self.failures.pop(key, None)
        self.failures.update(other.failures)
        self.succeeded |= other.succeeded
        self.failed = len(self.failures)
        self.sliced = other.sliced


def chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
