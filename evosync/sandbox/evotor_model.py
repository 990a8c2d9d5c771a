"""The Evotor emulator's records: lists kept in creation order (so a cursor survives edits), a store's records,
Evotor's time format, and the error answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime


class EvotorApiError(Exception):
    """An HTTP error answer of the emulated API."""

    def __init__(self, status: int, message: str, violations: list[dict] | None = None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.violations = violations
        self.headers = headers or {}


def format_evotor_time(epoch_ms: int) -> str:
    """Evotor's timestamp format, e.g. ``2018-08-29T15:08:56.664+0000``."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}+0000"


class OrderedRecords:
    """Records kept in creation order with stable positions, so a cursor (an index) survives edits.

    Removal leaves a hole in ``_order`` instead of shifting later records, which would make a
    client paging through the list skip one.
    """

    def __init__(self):
        self.items: dict[str, dict] = {}
        self._order: list[str | None] = []
        self._position: dict[str, int] = {}

    def put(self, key: str, record: dict) -> None:
        if key not in self.items:
            self._position[key] = len(self._order)
            self._order.append(key)
        self.items[key] = record

    def remove(self, key: str) -> dict | None:
        record = self.items.pop(key, None)
        if record is not None:
            self._order[self._position.pop(key)] = None
        return record

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.items.values())

    def page(self, start: int, size: int, keep: Callable[[dict], bool] | None) -> tuple[list[dict], int | None]:
        """Up to ``size`` records from position ``start``; the position to resume at, or None at the end."""
        found: list[dict] = []
        index = start
        while index < len(self._order):
            key = self._order[index]
            index += 1
            if key is None:
                continue
            record = self.items[key]
            if keep is not None and not keep(record):
                continue
            if len(found) == size:
                return found, index - 1  # one more record exists: resume right at it
            found.append(record)
        return found, None


class StoreRecords:
    def __init__(self, record: dict):
        self.record = record
        self.groups = OrderedRecords()
        self.products = OrderedRecords()
        self.images: dict[str, OrderedRecords] = {}  # product id -> its images
        self.payment_required = False
