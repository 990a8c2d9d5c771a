"""Property tests of the hold arithmetic (services/sync/holds.py): no sale is ever counted twice.

A small world is simulated: one product at the till with VK orders that are placed, rung up at the till (before or
after being closed in VK), completed, cancelled; EvoSync looks at the Evotor quantity at random moments. After every
look, what VK is told must equal the truth under the documented rule: the Evotor quantity less the units of open
orders not yet rung up (closing an order in VK releases its hold; a till sale is subtracted by Evotor alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evosync.services.sync import holds as rule
from evosync.services.sync.plan import build_plan
from evosync.services.sync.plan_model import PlanInput, Product, Scope, Settings

QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass
class Order:
    quantity: int
    state: str = rule.OPEN
    rung: bool = False  # sold at the till already


@dataclass
class World:
    """The till's quantity, the orders, and EvoSync's lines (one per order, oldest first)."""

    quantity: int
    orders: list[Order] = field(default_factory=list)
    lines: list[rule.Hold] = field(default_factory=list)
    drops_seen: int = 0
    last_seen: int | None = None

    def look(self) -> None:
        if self.last_seen is not None and self.quantity < self.last_seen:
            self.drops_seen += self.last_seen - self.quantity
        self.last_seen = self.quantity
        marked = [
            rule.Hold(h.ordered, h.settled, h.seen, o.state) for h, o in zip(self.lines, self.orders, strict=True)
        ]
        self.lines = rule.settle(marked, self.quantity)

    def place(self, quantity: int) -> None:
        self.orders.append(Order(quantity))
        self.lines.append(rule.Hold(quantity))
        self.look()  # the service settles right after storing a new order

    def shown(self) -> Decimal:
        return rule.available(self.quantity, rule.outstanding(self.lines))

    def truth(self) -> int:
        return max(0, self.quantity - sum(o.quantity for o in self.orders if o.state == rule.OPEN and not o.rung))

    def waiting_for_till(self) -> bool:
        """A completed order not rung up yet: its sale and an open order's till sale look the same to EvoSync."""
        return any(o.state == rule.DONE and not o.rung for o in self.orders)


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["place", "ring", "complete", "cancel", "look"]), st.integers(0, 50), st.integers(1, 4)),
    max_size=40,
)


def _pick(world: World, seed: int, wanted) -> Order | None:
    candidates = [o for o in world.orders if wanted(o)]
    return candidates[seed % len(candidates)] if candidates else None


def _play(world: World, actions, walk_ins: bool = False) -> None:
    for action, seed, quantity in actions:
        if action == "place" and world.quantity - sum(o.quantity for o in world.orders if not o.rung) >= quantity:
            world.place(quantity)
        elif action == "ring":  # the merchant sells an order's goods at the till (open or completed in VK)
            order = _pick(world, seed, lambda o: not o.rung and o.state != rule.CANCELLED_STATE)
            if order is not None:
                order.rung = True
                world.quantity -= order.quantity
        elif action == "complete":
            order = _pick(world, seed, lambda o: o.state == rule.OPEN)
            if order is not None:
                order.state = rule.DONE
        elif action == "cancel":  # only an order nobody rang up can be cancelled in this world
            order = _pick(world, seed, lambda o: o.state == rule.OPEN and not o.rung)
            if order is not None:
                order.state = rule.CANCELLED_STATE
        elif action == "look":
            world.look()
        if walk_ins and seed % 7 == 0:  # somebody else buys, or a delivery comes
            world.quantity = max(0, world.quantity + (quantity if seed % 2 else -quantity))


@QUICK
@given(start=st.integers(0, 30), actions=ACTIONS)
def test_after_every_look_vk_is_told_the_truth_and_never_more(start, actions):
    """Orders placed, rung up at the till before or after closing, completed or cancelled, in any order, looked at
    any time. After every look VK never shows more than is free (no oversell), and whenever no completed order is
    still waiting to be rung up it shows exactly the Evotor quantity less the open orders not yet rung up: no sale
    counted twice. (In the one ambiguous moment it may show less: never a unit sold twice.)"""
    world = World(start)
    world.look()
    for step in range(len(actions)):
        _play(world, actions[step : step + 1])
        world.look()
        assert world.shown() <= world.truth(), (world.orders, world.lines, world.quantity)
        if not world.waiting_for_till():
            assert world.shown() == world.truth(), (world.orders, world.lines, world.quantity)


@QUICK
@given(start=st.integers(0, 30), actions=ACTIONS)
def test_looking_late_comes_to_the_same_truth(start, actions):
    """EvoSync may look only now and then (the mirror lags): once every completed order is rung up and it looks,
    the answer is the truth all the same."""
    world = World(start)
    world.look()
    _play(world, actions)
    for order in world.orders:  # the merchant rings up every completed order
        if order.state == rule.DONE and not order.rung:
            order.rung = True
            world.quantity -= order.quantity
    world.look()
    assert world.shown() == world.truth()


@QUICK
@given(start=st.integers(0, 30), actions=ACTIONS)
def test_with_walk_ins_and_deliveries_the_bounds_hold(start, actions):
    """Other sales and deliveries make the truth unknowable, but VK is never told a negative stock nor more than
    Evotor has, and the holds never release more units than the till was seen to sell."""
    world = World(start)
    world.look()
    _play(world, actions, walk_ins=True)
    world.look()
    shown = world.shown()
    assert 0 <= shown <= max(world.quantity, 0)
    settled = sum(h.settled for h, o in zip(world.lines, world.orders, strict=True) if o.state != rule.CANCELLED_STATE)
    assert settled <= world.drops_seen


@QUICK
@given(
    quantity=st.integers(0, 20),
    ordered=st.integers(1, 5),
    till=st.integers(0, 5),
)
def test_ringing_up_the_ordered_units_changes_nothing_in_vk(quantity, ordered, till):
    """The heart of "no sale counted twice": the shopper's units rung up at the till lower Evotor's quantity and
    release as much of the hold, so VK's number does not move."""
    if ordered > quantity:
        return
    lines = rule.settle([rule.Hold(ordered)], quantity)
    before = rule.available(quantity, rule.outstanding(lines))
    sold = min(till, ordered)
    lines = rule.settle(lines, quantity - sold)
    assert rule.available(quantity - sold, rule.outstanding(lines)) == before == quantity - ordered


def test_a_new_order_takes_no_part_in_a_sale_made_before_it():
    """A till sale that happened before the order existed is not the order's."""
    lines = rule.settle([rule.Hold(1)], 10)  # looked at 10
    lines = rule.settle([*lines, rule.Hold(2)], 7)  # 3 sold at the till; a new order of 2 arrives now
    assert [h.settled for h in lines] == [1, 0]
    assert rule.outstanding(lines) == 2


def test_unknown_status_numbers_hold_stock():
    """A status VK adds later (not one of 0..6) counts as open: holding a unit too long beats selling it twice."""
    assert rule.is_open(17, rule.DEFAULT_OPEN_STATUSES)
    assert not rule.is_open(rule.CANCELLED, rule.DEFAULT_OPEN_STATUSES)
    assert rule.parse_statuses("") == rule.DEFAULT_OPEN_STATUSES
    assert rule.parse_statuses("0, 2,x") == {0, 2}


@QUICK
@given(quantity=st.integers(0, 30), held=st.integers(0, 40))
def test_the_plan_publishes_evotor_quantity_less_held_units_and_says_reserved(quantity, held):
    """Holds enter the pure plan: stock_amount = Evotor quantity − held (never below 0); "reserved N" is listed."""
    product = Product("S1", "P1", "Чай зелёный", Decimal("100"), quantity=Decimal(quantity))
    data = PlanInput(
        settings=Settings(out_of_stock="keep"),
        products=[product],
        groups=[],
        scope=Scope(frozenset({"S1"}), frozenset()),
        holds={("S1", "P1"): held} if held else {},
    )
    plan = build_plan(data)
    [create] = plan.creates
    assert create.desired.fields["stock_amount"] == max(0, quantity - held)
    if held:
        assert [(r.key, r.units) for r in plan.reserved] == [(("S1", "P1"), held)]
    else:
        assert plan.reserved == []
