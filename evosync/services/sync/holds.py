"""Stock held by open VK orders, and when a sale at the till releases it. Pure: no I/O, no Flask.

What VK shows as available = the Evotor quantity − the units still held by open VK orders.

The release rule (docs/VK_ORDERS.md, "Holds"), so that no sale is counted twice:

1. A line of an open order holds ``ordered − settled`` units of its Evotor product. ``settled`` starts at 0.
2. A hold ends at once, whole, when VK says its order is closed (a status outside the merchant's open statuses:
   done, cancelled, returned...). Nothing more is subtracted for it from then on.
3. The till: every line remembers the Evotor quantity it last saw (``seen``). When Evotor later shows less,
   the drop ``seen − now`` is taken as units of the held goods sold at the till and settles the product's open
   lines oldest first, each at most up to its ``ordered``; then every line of the product remembers ``now``.
   A unit of drop settles one unit of one hold only, so the till's sale is subtracted once (by Evotor's own
   quantity) and the hold stops subtracting it a second time. A rise (a delivery, a return) settles nothing.
4. A new line first settles the product's existing lines against the current Evotor quantity and then starts
   with ``seen`` = that quantity, so every open line of a product always shares one ``seen`` and a drop that
   happened before an order existed is never put on it.

What this cannot tell (written down so nobody is surprised): a walk-in sale at the till while a VK order of
the same product is open is taken as that order's sale — VK then shows one more unit than is free until the
order is closed. The other way round would count every VK sale rung up at the till twice. Drops and rises
between two looks net out (sold 2, received 5: no drop seen, the holds stay whole).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

Key = tuple[str, str]  # (Evotor store id, Evotor product id)

# VK's order statuses (dev.vk.com market.editOrder; VK's API schema says only "integer >= 0": unconfirmed).
NEW, AGREED, ASSEMBLING, DELIVERING, DONE, CANCELLED, RETURNED = range(7)
KNOWN_STATUSES = (NEW, AGREED, ASSEMBLING, DELIVERING, DONE, CANCELLED, RETURNED)
DEFAULT_OPEN_STATUSES = frozenset({NEW, AGREED, ASSEMBLING, DELIVERING})


def is_open(status: int, open_statuses: Iterable[int]) -> bool:
    """Whether an order in ``status`` holds stock. A status number VK adds later (not one of the seven known)
    counts as open: holding a unit too long is cheaper than selling it twice."""
    return status in set(open_statuses) or status not in KNOWN_STATUSES


def parse_statuses(text: str | None) -> frozenset[int]:
    """``"0,1,2"`` -> {0, 1, 2}; the defaults when empty or unreadable."""
    numbers = set()
    for part in (text or "").split(","):
        part = part.strip()
        if part.isdigit():
            numbers.add(int(part))
    return frozenset(numbers) or DEFAULT_OPEN_STATUSES


def to_decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


@dataclass(frozen=True, slots=True)
class Hold:
    """One line of an open order: ``ordered`` units of a product, ``settled`` of them seen sold at the till."""

    ordered: int
    settled: int = 0
    seen: Decimal | None = None  # the Evotor quantity this line last saw

    @property
    def outstanding(self) -> int:
        return max(0, self.ordered - self.settled)


def settle(holds: Sequence[Hold], now) -> list[Hold]:
    """One product's open lines, oldest first, after Evotor shows ``now`` (rule 3). Same length and order."""
    current = to_decimal(now)
    if current is None:
        return list(holds)
    seen = [h.seen for h in holds if h.seen is not None and h.outstanding > 0]
    # Lines share one `seen` (rule 4); if old data disagrees, the smallest drop is the one every line witnessed.
    drop = max(Decimal(0), min(seen) - current) if seen else Decimal(0)
    units = int(drop)  # whole units: a weighed product's 0.3 kg sold is not one of the ordered pieces
    out = []
    for hold in holds:
        take = min(hold.outstanding, units)
        units -= take
        out.append(dataclasses.replace(hold, settled=hold.settled + take, seen=current))
    return out


def outstanding(holds: Iterable[Hold]) -> int:
    return sum(h.outstanding for h in holds)


def available(quantity, held: int):
    """The Evotor quantity less ``held`` units, never below 0; None when Evotor does not say (nothing to hold)."""
    number = to_decimal(quantity)
    if number is None:
        return quantity
    if held <= 0:
        return quantity
    return max(Decimal(0), number - held)


def apply_to_products(products: Iterable, held: Mapping[Key, int]):
    """(products with their quantity less what open orders hold, {key: units held}) for the plan."""
    reserved: dict[Key, int] = {}
    out = []
    for product in products:
        units = held.get(product.key, 0) if held else 0
        if units > 0 and to_decimal(product.quantity) is not None:
            reserved[product.key] = units
            product = dataclasses.replace(product, quantity=available(product.quantity, units))
        out.append(product)
    return out, reserved
