"""Stock held by open VK orders, and when a sale at the till releases it. Pure: no I/O, no Flask.

What VK shows as available = the Evotor quantity − the units still held by open VK orders.

The release rule (docs/VK_ORDERS.md, "Holds"), so that no sale is counted twice. Per product:

1. Every line of a VK order for the product is a ``Hold``: ``ordered`` units, ``settled`` of them matched to sales
   seen at the till, and the order's state: OPEN (a status the merchant counts as open), DONE (completed: sold,
   so it will be rung up at the till if it was not already) or CANCELLED (cancelled or returned: never sold).
2. Only OPEN lines hold stock: ``ordered − settled`` units each. Closing an order in VK releases its hold at once.
3. The till: every line remembers the Evotor quantity it last saw (``seen``). When Evotor shows less, the drop
   ``seen − now`` (whole units) is taken as held goods sold at the till. Each look puts the drop together with
   every unit the lines had settled before (a CANCELLED line gives its units back: they were some other sale)
   and deals the pool out again: DONE lines first (a completed order is surely rung up), then OPEN lines, each
   oldest first and at most ``ordered``; what is left was sold to somebody else and is dropped. Then every line
   remembers ``now``. A unit of drop settles one unit of one line only, so a sale at the till is subtracted
   once (by Evotor's own quantity) and never a second time by a hold. A rise (delivery, return) settles nothing.
4. A new line starts unseen: the look that first meets it gives it ``seen = now`` and no part of the drop, so a
   sale made before the order existed is never put on it. The service looks right after storing an order.

Never more than is free: the pool goes to completed orders first, so an open order's hold is released only by
drops beyond what completed orders can account for. The one ambiguous moment: a completed order not rung up yet
and an open order rung up at the till look the same (one unit gone); the drop goes to the completed one, and VK
shows one unit too few until either is settled (the completed one rung up, or the open one closed) — never one
too many. With no completed order waiting for the till, VK shows exactly the Evotor quantity less the open
orders' units not yet rung up (tests/orders/test_holds_properties.py).

What this cannot tell (written down so nobody is surprised): a walk-in sale at the till while a VK order of the
same product is open is taken as that order's sale (VK then shows one unit more than is free until the order is
closed; the other way round would count every VK sale rung up at the till twice), and a drop and a rise between
two looks net out (sold 2, received 5: no drop seen, the holds stay whole: VK shows less, never more). Between
closing an order as done in VK and ringing it up at the till, VK shows the unit as available (the issue's rule:
closing releases the hold).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .mapping import to_decimal

Key = tuple[str, str]  # (Evotor store id, Evotor product id)

# VK's order statuses (dev.vk.com market.editOrder; VK's API schema says only "integer >= 0": unconfirmed).
NEW, AGREED, ASSEMBLING, DELIVERING, DONE_STATUS, CANCELLED, RETURNED = range(7)
KNOWN_STATUSES = (NEW, AGREED, ASSEMBLING, DELIVERING, DONE_STATUS, CANCELLED, RETURNED)
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


OPEN, DONE, CANCELLED_STATE = "open", "done", "cancelled"


def state_of(status: int, open_statuses: Iterable[int]) -> str:
    """The hold state of an order in VK ``status``."""
    if is_open(status, open_statuses):
        return OPEN
    return DONE if status == DONE_STATUS else CANCELLED_STATE


@dataclass(frozen=True, slots=True)
class Hold:
    """One order line of a product: ``ordered`` units, ``settled`` of them matched to sales seen at the till."""

    ordered: int
    settled: int = 0
    seen: Decimal | None = None  # the Evotor quantity this line last saw; None: not looked at yet
    state: str = OPEN

    @property
    def outstanding(self) -> int:
        """Units this line keeps out of VK's stock now (only an open order holds any)."""
        return max(0, self.ordered - self.settled) if self.state == OPEN else 0


def settle(holds: Sequence[Hold], now) -> list[Hold]:
    """One product's lines, each list oldest first, after Evotor shows ``now`` (rule 3). Same length and order."""
    current = to_decimal(now)
    if current is None:
        return list(holds)
    seen = [h.seen for h in holds if h.seen is not None]
    # Lines share one `seen` (every look sets them all); if old data disagrees, take the smallest drop.
    drop = int(max(Decimal(0), min(seen) - current)) if seen else 0  # whole units: 0.3 kg is not an ordered piece
    looked = [h for h in holds if h.seen is not None]
    pool = drop + sum(h.settled for h in looked)
    out = list(holds)
    for state in (DONE, OPEN):
        for index, hold in enumerate(holds):
            if hold.state == state and hold.seen is not None:
                take = min(max(hold.ordered, 0), pool)
                pool -= take
                out[index] = dataclasses.replace(hold, settled=take)
    for index, hold in enumerate(out):
        settled = 0 if hold.state == CANCELLED_STATE or hold.seen is None else hold.settled
        out[index] = dataclasses.replace(hold, settled=settled, seen=current)
    return out


def outstanding(holds: Iterable[Hold]) -> int:
    return sum(h.outstanding for h in holds)


def available(quantity, held: int):
    """The Evotor quantity less ``held`` units, never below 0; None when Evotor does not say (nothing to hold)."""
    number = to_decimal(quantity)
    if number is None:
        return quantity
    if held <= 0 and number >= 0:
        return quantity
    return max(Decimal(0), number - max(held, 0))


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
