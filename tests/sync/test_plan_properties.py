"""Property tests of the plan with hostile product data: VK-valid fields, determinism, and convergence."""

from __future__ import annotations

import dataclasses
import os
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evosync.services.sync import mapping
from evosync.services.sync.plan import build_plan
from evosync.services.sync.plan_model import (
    AVAILABLE,
    MARK_DELETED,
    REMOVED,
    UNAVAILABLE,
    AlbumAdd,
    AlbumLink,
    Group,
    Link,
    Plan,
    PlanInput,
    Product,
    Scope,
    Settings,
    VkAlbum,
    VkItem,
)
from tests.sync.test_plan import ops

# A few seconds each by default; SYNC_PLAN_EXAMPLES=2000 for a deep hunt.
EXAMPLES = int(os.environ.get("SYNC_PLAN_EXAMPLES", "60"))
QUICK = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STORES = ("S1", "S2")
SIZES = {"id": "size", "name": "Размер", "choices": [{"id": "s", "name": "S"}, {"id": "m", "name": "M"}]}

# ------------------------------------------------------------------------------------------- hostile data

FRAGMENTS = [
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "\x07",
    "\x1b[31m",
    "\x0b",
    "\u200b",
    "\u202e",
    "\ufeff",
    "\u00a0",
    "\u2028",
    "🍎",
    "👨\u200d👩\u200d👧",
    "❤\ufe0f",
    "\U0001f3f3\ufe0f\u200d\U0001f308",
    "e\u0301",
    "Ж",
    "Чай",
    "S",
    "a",
    "<b>",
    "</p>",
    "<br/>",
    "<script>alert(1)</script>",
    "&lt;i&gt;",
    "&amp;",
    "&#12;",
    "https://evil.ru/x",
    "www.a.com",
    "shop.рф",
    "-",
    "...",
    "—",
    ",",
    ":",
    "{name}",
    "{__class__}",
    "Артикул: .",
    "x" * 120,
    "слово " * 30,
    "Я" * 300,
]
hostile_text = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=6).map("".join),
)
hostile_number = st.one_of(
    st.none(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=10**9),
    st.sampled_from(["", "abc", "1e999999", "-0", "0.004", "99999999.995", "12,5", " 7 ", "NaN", "Infinity", True]),
)
sane_number = st.decimals(min_value=Decimal("0.01"), max_value=100_000, places=2)
mostly_sane_number = st.one_of(
    sane_number, sane_number, sane_number, hostile_number
)  # hostile, yet enough gets published
settings_strategy = st.builds(
    Settings,
    markup_percent=st.decimals(min_value=-50, max_value=500, places=2),
    price_rounding=st.sampled_from(mapping.ROUNDING_CHOICES),
    out_of_stock=st.sampled_from(("unavailable", "remove", "keep")),
    removal=st.sampled_from(("delete", "unavailable", "leave")),
    category_id=st.sampled_from((900, 40401)),
    description_template=st.one_of(st.just(mapping.DEFAULT_DESCRIPTION_TEMPLATE), hostile_text.map(lambda t: t or "")),
    albums_enabled=st.sampled_from([True, True, True, False]),
    publish_services=st.sampled_from([True, True, True, False]),
)


@st.composite
def groups_strategy(draw) -> tuple[Group, ...]:
    """A category G1 (hostile name) holding a modification group M1, a category G2, all in store S1."""
    return (
        Group("S1", "G1", draw(hostile_text) or ""),
        Group("S1", "M1", draw(hostile_text) or "", "G1", [SIZES]),
        Group("S1", "G2", draw(st.sampled_from(["Сладости", "", "Я" * 300]))),
    )


@st.composite
def product_strategy(draw, pid: str) -> Product:
    parent = draw(st.sampled_from([None, "G1", "G2", "M1", "G404"]))
    return Product(
        store_id=draw(st.sampled_from(["S1", "S1", "S1", "S2"])),
        id=pid,
        name=draw(hostile_text),
        price=draw(mostly_sane_number),
        quantity=draw(mostly_sane_number),
        allow_to_sell=draw(st.sampled_from([True, True, True, False])),
        description=draw(hostile_text),
        article_number=draw(hostile_text),
        code=draw(hostile_text),
        measure_name=draw(st.sampled_from(["шт", "кг", "", None])),
        parent_id=parent,
        type=draw(st.sampled_from(["NORMAL", "SERVICE"])),
        attributes_choices=draw(st.sampled_from([None, {"size": "s"}, {"size": "m"}, {"size": "zz"}]))
        if parent == "M1"
        else None,
        image_key=draw(st.sampled_from([None, "img-1", "img-2"])),
    )


@st.composite
def catalog_strategy(draw, min_products: int = 0, max_products: int = 6) -> tuple[tuple[Product, ...], Scope]:
    ids = draw(
        st.lists(
            st.sampled_from([f"P{n}" for n in range(8)]), min_size=min_products, max_size=max_products, unique=True
        )
    )
    products = tuple(draw(product_strategy(pid)) for pid in ids)
    pairs = [(s, g) for s in STORES for g in ("G1", "G2", "M1", "G404")]
    # Mostly everything switched on, so that albums and variants are exercised; sometimes a random selection.
    all_on = draw(st.sampled_from([True, True, False]))
    stores = frozenset(STORES) if all_on else draw(st.frozensets(st.sampled_from(STORES), min_size=1))
    groups = frozenset(pairs) if all_on else draw(st.frozensets(st.sampled_from(pairs)))
    return products, Scope(stores=stores, groups=groups)


# ------------------------------------------------------------------------------------------- VK's rules

PRICE = re.compile(r"^\d+\.\d{2}$")


def vk_refusals(fields: dict, full: bool) -> list[str]:
    """What VK (market.add when ``full``, else market.edit) would refuse in these fields."""
    problems = []
    if full:
        problems += [
            f"{name} missing" for name in ("name", "description", "category_id", "price") if name not in fields
        ]
    if "name" in fields and not mapping.NAME_MIN <= len(fields["name"]) <= mapping.NAME_MAX:
        problems.append(f"name length {len(fields['name'])}")
    if "name" in fields and (
        fields["name"] != fields["name"].strip() or any(unicodedata.category(ch) == "Cc" for ch in fields["name"])
    ):
        problems.append("name untidy")
    if "description" in fields and len(fields["description"].strip()) < mapping.DESCRIPTION_MIN:
        problems.append("description too short")
    if "description" in fields and any(
        unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in fields["description"]
    ):
        problems.append("control character in description")
    if "price" in fields and not (
        PRICE.match(fields["price"]) and Decimal(0) < Decimal(fields["price"]) <= mapping.PRICE_MAX
    ):
        problems.append(f"price {fields['price']!r}")
    if "category_id" in fields and not (type(fields["category_id"]) is int and fields["category_id"] > 0):
        problems.append("category_id")
    if "sku" in fields and not (isinstance(fields["sku"], str) and len(fields["sku"]) <= 50):
        problems.append("sku")
    if "stock_amount" in fields and not (
        type(fields["stock_amount"]) is int and 0 <= fields["stock_amount"] <= 999_999
    ):
        problems.append(f"stock_amount {fields['stock_amount']!r}")
    if "deleted" in fields and fields["deleted"] not in (0, 1):
        problems.append("deleted")
    return problems


def plan_input(products, groups, scope, cfg, state: VkState | None = None) -> PlanInput:
    state = state or VkState()
    return PlanInput(
        settings=cfg,
        products=tuple(products),
        groups=tuple(groups),
        scope=scope,
        links=tuple(state.links.values()),
        album_links=tuple(state.album_links.values()),
        vk_items=tuple(state.items.values()),
        vk_albums=tuple(state.albums.values()),
    )


@QUICK
@given(catalog=catalog_strategy(), groups=groups_strategy(), cfg=settings_strategy)
def test_plan_never_writes_what_vk_refuses(catalog, groups, cfg):
    """For any hostile product, every market.add/edit field and album title is one VK accepts."""
    products, scope = catalog
    plan = build_plan(plan_input(products, groups, scope, cfg))
    for create in plan.creates:
        assert vk_refusals(create.desired.fields, full=True) == [], create.desired.fields
    for update in plan.updates:
        assert vk_refusals(update.changed, full=False) == [], update.changed
    for title in [a.title for a in plan.album_creates] + [a.title for a in plan.album_renames]:
        assert 1 <= len(title) <= mapping.ALBUM_TITLE_MAX and title == title.strip()


@settings(QUICK, max_examples=max(EXAMPLES // 3, 10))
@given(catalog=catalog_strategy(), groups=groups_strategy(), cfg=settings_strategy)
def test_plan_is_deterministic(catalog, groups, cfg):
    """Building a plan twice from the same input gives the same plan."""
    products, scope = catalog
    data = plan_input(products, groups, scope, cfg)
    assert build_plan(data) == build_plan(data)


# ------------------------------------------------------------------------------------------- a tiny VK + apply


@dataclass
class VkState:
    """VK's market of one community and EvoSync's links, as plain dicts.

    ``hidden_availability`` is the reading of deleted=1 (2 "unavailable" or 1 "removed"); an item removed with
    market.delete stays in ``items`` as availability 1 (VK returning it until too late), ``removed`` holds their ids.
    """

    items: dict[int, VkItem] = field(default_factory=dict)
    albums: dict[int, VkAlbum] = field(default_factory=dict)
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    album_links: dict[tuple[str, str], AlbumLink] = field(default_factory=dict)
    next_id: int = 1
    hidden_availability: int = UNAVAILABLE
    hidden: set[int] = field(default_factory=set)
    removed: set[int] = field(default_factory=set)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def put(self, item: VkItem, **changes) -> None:
        """Store ``item`` with ``changes``, its availability following the hidden/removed flags and the reading."""
        item = dataclasses.replace(item, **changes)
        if item.item_id in self.removed:
            availability = REMOVED
        elif item.item_id in self.hidden:
            availability = self.hidden_availability
        else:
            availability = AVAILABLE
        self.items[item.item_id] = dataclasses.replace(item, availability=availability)

    def flag(self, item_id: int, hidden: bool | None = None, removed: bool | None = None) -> None:
        for ids, value in ((self.hidden, hidden), (self.removed, removed)):
            if value is True:
                ids.add(item_id)
            elif value is False:
                ids.discard(item_id)
        self.put(self.items[item_id])


def apply_plan(plan: Plan, state: VkState) -> None:
    """Carry out a plan's effects on VK and the links the way services/sync/apply.py records them."""

    def link(key, sku=None) -> Link:
        return state.links.get(key) or Link(key[0], key[1], sku or mapping.sku_for(*key))

    def save(key, sku=None, **changes) -> None:
        state.links[key] = dataclasses.replace(link(key, sku), **changes)

    for op in plan.adoptions:
        if link(op.key, op.sku).vk_item_id != op.vk_item_id:
            save(op.key, op.sku, vk_item_id=op.vk_item_id, pushed=None)
    for op in plan.album_adoptions:
        state.album_links[op.album_key] = AlbumLink(*op.album_key, op.vk_album_id, op.title)
    for op in plan.forgets:
        if op.key in state.links:
            save(op.key, vk_item_id=None, pushed=None, content_hash=None, status="removed")
    for op in plan.skipped:
        if link(op.key).vk_item_id is None:
            save(op.key, status="skipped")
    for op in plan.album_creates:
        album_id = state.new_id()
        state.albums[album_id] = VkAlbum(album_id, op.title)
        state.album_links[op.album_key] = AlbumLink(*op.album_key, album_id, op.title)
    for op in plan.album_renames:
        state.albums[op.vk_album_id] = VkAlbum(op.vk_album_id, op.title)
        state.album_links[op.album_key] = dataclasses.replace(state.album_links[op.album_key], title=op.title)
    for op in plan.album_deletes:
        if op.vk_album_id:
            del state.albums[op.vk_album_id]
            for item in list(state.items.values()):
                kept = tuple(a for a in item.album_ids if a != op.vk_album_id)
                state.items[item.item_id] = dataclasses.replace(item, album_ids=kept)
        state.album_links.pop(op.album_key, None)
    for op in plan.removals:
        item = state.items[op.vk_item_id]
        hide = op.mode == "hide" and item.item_id not in state.removed  # a removed item answers 1403: gone
        if hide:
            state.flag(item.item_id, hidden=True)
        else:
            state.flag(item.item_id, removed=True)
            state.put(state.items[item.item_id], removal=MARK_DELETED)
        current = state.links.get(op.key) if op.key else None
        if op.duplicate or current is None or current.vk_item_id not in (None, op.vk_item_id):
            continue
        if hide:
            save(op.key, status="unavailable", pushed={**(current.pushed or {}), "deleted": 1})
        else:
            save(op.key, vk_item_id=None, pushed=None, content_hash=None, status="removed")
    for op in plan.updates:
        if op.restore:
            state.flag(op.vk_item_id, removed=False)
            state.put(state.items[op.vk_item_id], removal=None)
    for op in [*plan.creates, *plan.updates]:
        d = op.desired
        if hasattr(op, "changed") and op.vk_item_id in state.removed:  # edit of a removed item: 1403
            state.put(state.items[op.vk_item_id], removal=MARK_DELETED)
            save(d.key, d.sku, vk_item_id=None, pushed=None)
            continue
        photo = None
        if not hasattr(op, "new_photo") or op.new_photo:
            photo = state.new_id()
            save(d.key, d.sku, vk_photo_id=photo, photo_hash=d.photo_key)
        hidden = d.fields["deleted"] == 1
        if hasattr(op, "changed"):
            item, fields = state.items[op.vk_item_id], op.changed
        else:
            item, fields = VkItem(state.new_id(), None), d.fields
        if "deleted" in fields:
            (state.hidden.add if fields["deleted"] else state.hidden.discard)(item.item_id)
        state.put(
            item,
            title=fields.get("name", item.title),
            price=Decimal(fields["price"]) if "price" in fields else item.price,
            sku=fields.get("sku", item.sku),
            description=fields.get("description", item.description),
            category_id=fields.get("category_id", item.category_id),
            main_photo_id=photo or item.main_photo_id,
        )
        previous_photo = (link(d.key).pushed or {}).get("main_photo_id")
        save(
            d.key,
            d.sku,
            vk_item_id=item.item_id,
            pushed={**d.fields, "main_photo_id": photo or previous_photo},
            content_hash=d.hash,
            status="unavailable" if hidden else "published",
        )
    for op in plan.album_removes:
        item = state.items[op.vk_item_id]
        state.items[item.item_id] = dataclasses.replace(
            item, album_ids=tuple(a for a in item.album_ids if a != op.vk_album_id)
        )
    for op in plan.album_adds:
        add: AlbumAdd = op
        album = state.album_links.get(add.album_key)
        item_id = add.vk_item_id or state.links[add.key].vk_item_id
        item = state.items[item_id]
        if album and album.vk_album_id not in item.album_ids:
            state.items[item_id] = dataclasses.replace(item, album_ids=(*item.album_ids, album.vk_album_id))


# ------------------------------------------------------------------------------------------- hand edits in VK

EDITS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "retitle",
                "reprice",
                "hide",
                "show",
                "delete",
                "vanish",
                "copy",
                "unalbum",
                "drop_album",
                "rename_album",
                "foreign",
                "clear_sku",
            ]
        ),
        st.integers(min_value=0, max_value=20),
    ),
    max_size=5,
)


def edit_by_hand(state: VkState, edits) -> None:
    """What a merchant (or a lost VK answer) does to the market between two runs."""
    for kind, n in edits:
        items = sorted(state.items)
        albums = sorted(state.albums)
        if kind == "foreign":
            item_id = state.new_id()
            state.items[item_id] = VkItem(
                item_id, "MY-SKU" if n % 2 else None, "Чужой товар", Decimal(5), album_ids=tuple(albums[:1])
            )
            continue
        if kind in ("drop_album", "rename_album"):
            if albums:
                album_id = albums[n % len(albums)]
                if kind == "drop_album":
                    del state.albums[album_id]
                    for item in list(state.items.values()):
                        state.items[item.item_id] = dataclasses.replace(
                            item, album_ids=tuple(a for a in item.album_ids if a != album_id)
                        )
                else:
                    state.albums[album_id] = VkAlbum(album_id, "Переименовано")
            continue
        if not items:
            continue
        item = state.items[items[n % len(items)]]
        if kind == "vanish":
            del state.items[item.item_id]
            continue
        if kind == "copy":  # a market.add whose answer was lost: a second item with our sku
            copy_id = state.new_id()
            if item.item_id in state.hidden:
                state.hidden.add(copy_id)
            state.put(item, item_id=copy_id, album_ids=(), main_photo_id=None, removal=None)
            continue
        if kind in ("hide", "show", "delete"):
            if item.item_id not in state.removed:
                state.flag(
                    item.item_id,
                    **{"hide": {"hidden": True}, "show": {"hidden": False}, "delete": {"removed": True}}[kind],
                )
            continue
        state.put(
            item,
            **{
                "retitle": {"title": "Изменено вручную"},
                "reprice": {"price": Decimal("1.00")},
                "unalbum": {"album_ids": ()},
                "clear_sku": {"sku": None},
            }[kind],
        )


@st.composite
def changed_catalog(draw, before: tuple[tuple[Product, ...], Scope]) -> tuple[tuple[Product, ...], Scope]:
    """The catalog of a later run: each product kept, deleted, made unsellable or changed at will; a few new ones."""
    products_before, scope_before = before
    products = []
    for product in products_before:
        fate = draw(st.sampled_from(["keep", "keep", "delete", "unsellable", "change"]))
        if fate == "keep":
            products.append(product)
        elif fate == "unsellable":
            products.append(dataclasses.replace(product, allow_to_sell=False))
        elif fate == "change":
            products.append(draw(product_strategy(product.id)))
    products += [draw(product_strategy(pid)) for pid in draw(st.lists(st.sampled_from(["N1", "N2"]), unique=True))]
    scope = draw(st.one_of(st.just(scope_before), catalog_strategy(max_products=0).map(lambda c: c[1])))
    return tuple(products), scope


@QUICK
@given(
    data=st.data(),
    before=catalog_strategy(min_products=3),
    groups=groups_strategy(),
    cfg_before=settings_strategy,
    cfg_after=settings_strategy,
    edits=EDITS,
    hidden_availability=st.sampled_from([UNAVAILABLE, REMOVED]),
)
def test_apply_then_replan_makes_no_writes(data, before, groups, cfg_before, cfg_after, edits, hidden_availability):
    """Sync a catalog, let it change (and the merchant edit VK by hand), sync again (the runner's passes): then a
    plan has nothing to do, items EvoSync did not create are untouched, and no product has two live items —
    whichever availability VK gives an item hidden with deleted=1."""
    (products_before, scope_before), (products, scope) = before, data.draw(changed_catalog(before))
    state = VkState(hidden_availability=hidden_availability)
    apply_plan(build_plan(plan_input(products_before, groups, scope_before, cfg_before)), state)
    edit_by_hand(state, edits)
    foreign = {
        i.item_id: i
        for i in state.items.values()
        if not mapping.is_our_sku(i.sku) and not any(link.vk_item_id == i.item_id for link in state.links.values())
    }
    for _pass in range(3):  # the runner's passes: a "not found" edit is restored on the next one
        plan = build_plan(plan_input(products, groups, scope, cfg_after, state))
        if not plan.has_writes:
            break
        apply_plan(plan, state)

    again = build_plan(plan_input(products, groups, scope, cfg_after, state))
    assert not again.has_writes, sorted(ops(again))
    for item_id, item in foreign.items():
        current = state.items.get(item_id)
        assert current is None or dataclasses.replace(current, album_ids=item.album_ids) == item, "stranger touched"
    for p in products:
        live = [
            i
            for i in state.items.values()
            if i.sku == mapping.sku_for(p.store_id, p.id) and i.item_id not in state.removed
        ]
        assert len(live) <= 1, f"{p.key}: {live}"


def test_convergence_example_with_variants_albums_and_removals():
    """A worked example of the convergence property: first sync, a catalog change, a re-sync with no writes."""
    groups = (Group("S1", "G1", "Одежда"), Group("S1", "M1", "Футболка", "G1", [SIZES]), Group("S1", "G2", "Чай"))
    scope = Scope(frozenset({"S1"}), frozenset({("S1", "G1"), ("S1", "M1"), ("S1", "G2")}))
    first = (
        Product("S1", "V1", "Футболка", 500, 3, parent_id="M1", attributes_choices={"size": "s"}),
        Product("S1", "V2", "Футболка", 500, 0, parent_id="M1", attributes_choices={"size": "m"}),
        Product("S1", "T1", "Чай", 90, 10, parent_id="G2"),
    )
    second = (first[0], dataclasses.replace(first[2], parent_id="G1", price=95))
    state = VkState()
    plan = build_plan(plan_input(first, groups, scope, Settings(), state))
    assert sorted(c.desired.title for c in plan.creates) == ["Футболка (M)", "Футболка (S)", "Чай (товар)"]
    apply_plan(plan, state)
    plan = build_plan(plan_input(second, groups, scope, Settings(), state))
    assert ops(plan) >= {
        "delete V2 #" + str(state.links[("S1", "V2")].vk_item_id),
        "album delete G2 #" + str(state.album_links[("S1", "G2")].vk_album_id),
    }
    apply_plan(plan, state)
    assert not build_plan(plan_input(second, groups, scope, Settings(), state)).has_writes
