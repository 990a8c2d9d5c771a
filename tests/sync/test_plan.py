"""Table-driven tests of the sync plan: every rule of issue 8's "Mapping" section as one row with an id."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from evosync.services.sync import mapping
from evosync.services.sync.plan import build_plan
from evosync.services.sync.plan_model import (
    AVAILABLE,
    REMOVED,
    UNAVAILABLE,
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

S = "20170228-F4F1-401B-80FA-9ECCA8451FFB"
SIZES = {"id": "size", "name": "Размер", "choices": [{"id": "s", "name": "S"}, {"id": "m", "name": "M"}]}
COLOURS = {"id": "col", "name": "Цвет", "choices": [{"id": "r", "name": "красный"}, {"id": "b", "name": "синий"}]}


def product(pid: str = "P1", **fields) -> Product:
    """An ordinary sellable product of store S with a price, stock and article."""
    defaults = dict(
        store_id=S,
        id=pid,
        name="Чай зелёный",
        price=100,
        quantity=5,
        article_number="АРТ-1",
        measure_name="шт",
        description="Листовой зелёный чай из Китая.",
    )
    return Product(**{**defaults, **fields})


def group(gid: str, name: str | None = None, parent_id: str | None = None, attributes=None) -> Group:
    return Group(
        store_id=S,
        id=gid,
        name=name or {"G1": "Напитки", "G2": "Сладости"}.get(gid, gid),
        parent_id=parent_id,
        attributes=attributes,
    )


@dataclass
class World:
    """One merchant's state: the Evotor catalog, settings, what EvoSync pushed, and what VK holds."""

    products: list[Product] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    links: list[Link] = field(default_factory=list)
    album_links: list[AlbumLink] = field(default_factory=list)
    vk_items: list[VkItem] = field(default_factory=list)
    vk_albums: list[VkAlbum] = field(default_factory=list)
    scope: Scope | None = None  # None: every store and group in the catalog is switched on

    def input(self) -> PlanInput:
        scope = self.scope or Scope(
            stores=frozenset({S} | {p.store_id for p in self.products}),
            groups=frozenset((g.store_id, g.id) for g in self.groups)
            | frozenset((p.store_id, p.parent_id) for p in self.products if p.parent_id),
        )
        return PlanInput(
            settings=self.settings,
            products=tuple(self.products),
            groups=tuple(self.groups),
            scope=scope,
            links=tuple(self.links),
            album_links=tuple(self.album_links),
            vk_items=tuple(self.vk_items),
            vk_albums=tuple(self.vk_albums),
        )

    def plan(self) -> Plan:
        return build_plan(self.input())

    def album(self, gid: str, album_id: int, title: str | None = None, linked: bool = True) -> World:
        """A VK album for group ``gid``; ``linked`` means EvoSync created (or adopted) it."""
        title = title if title is not None else mapping.album_title(group(gid).name)
        self.vk_albums.append(VkAlbum(album_id, title))
        if linked:
            self.album_links.append(AlbumLink(S, gid, album_id, title))
        return self

    def publish(
        self,
        pushed: Product,
        item_id: int,
        album_ids: tuple[int, ...] = (),
        link: bool = True,
        settings: Settings | None = None,
        **vk,
    ) -> World:
        """The VK item EvoSync made earlier from ``pushed`` (the product as it was then), plus its link."""
        earlier = World([pushed], self.groups, settings or self.settings).plan()
        (create,) = earlier.creates
        d = create.desired
        hidden = d.fields["deleted"] == 1
        item = VkItem(
            item_id,
            d.sku,
            title=d.fields["name"],
            price=Decimal(d.fields["price"]),
            availability=UNAVAILABLE if hidden else AVAILABLE,
            album_ids=album_ids,
            description=d.fields["description"],
            category_id=d.fields["category_id"],
            main_photo_id=item_id + 1000,
        )
        self.vk_items.append(dataclasses.replace(item, **vk))
        if link:
            self.links.append(
                Link(
                    S,
                    pushed.id,
                    d.sku,
                    vk_item_id=item_id,
                    vk_photo_id=item_id + 1000,
                    photo_hash=d.photo_key,
                    content_hash=d.hash,
                    pushed={**d.fields, "main_photo_id": item_id + 1000},
                    status="unavailable" if hidden else "published",
                )
            )
        return self


def ops(plan: Plan) -> set[str]:
    """Every operation of a plan in a short word form, so a row states the whole plan and nothing else."""
    out: set[str] = set()
    out |= {f"create {c.desired.key[1]}" for c in plan.creates}
    out |= {
        f"update {u.desired.key[1]} #{u.vk_item_id} {','.join(sorted(u.changed)) or '-'}"
        + (" +photo" if u.new_photo else "")
        + (" +restore" if u.restore else "")
        for u in plan.updates
    }
    out |= {f"adopt {a.key[1]} #{a.vk_item_id}" for a in plan.adoptions}
    out |= {
        f"{'duplicate' if r.duplicate else r.mode} {r.key[1] if r.key else '-'} #{r.vk_item_id}" for r in plan.removals
    }
    out |= {f"forget {f.key[1]}" for f in plan.forgets}
    out |= {f"skip {s.key[1]}: {s.reason}" for s in plan.skipped}
    out |= {f"album create {a.album_key[1]} {a.title}" for a in plan.album_creates}
    out |= {f"album adopt {a.album_key[1]} #{a.vk_album_id}" for a in plan.album_adoptions}
    out |= {f"album rename {a.album_key[1]} #{a.vk_album_id} {a.title}" for a in plan.album_renames}
    out |= {f"album delete {a.album_key[1]} #{a.vk_album_id}" for a in plan.album_deletes}
    out |= {f"add {a.key[1]} #{a.vk_item_id} to {a.album_key[1]}" for a in plan.album_adds}
    out |= {f"take {a.key[1] if a.key else '-'} #{a.vk_item_id} out of #{a.vk_album_id}" for a in plan.album_removes}
    return out


ALL_FIELDS = "category_id,deleted,description,name,price,sku,stock_amount"
NO_STOCK = Settings(out_of_stock="remove")


# ------------------------------------------------------------------------------------------- rows


def _w(*products: Product, groups=(), settings: Settings | None = None, scope: Scope | None = None) -> World:
    return World(list(products), list(groups), settings or Settings(), scope=scope)


def _published(settings: Settings | None = None, groups=(), **changes) -> World:
    """P1 (in G1 when groups are given) published as #7 earlier, now with ``changes`` in Evotor."""
    parent = {"parent_id": "G1"} if groups else {}
    w = World([product(**{**parent, **changes})], list(groups), settings or Settings())
    w.publish(product(**parent), 7, album_ids=(5,) if groups else (), settings=Settings())
    return w.album("G1", 5) if groups else w


PUBLISH_ROWS = [
    # what is published
    pytest.param(lambda: _w(product()), {"create P1"}, id="sellable-product-created"),
    pytest.param(lambda: _w(product(allow_to_sell=False)), set(), id="not-for-sale-not-published"),
    pytest.param(lambda: _w(product(), scope=Scope(frozenset(), frozenset())), set(), id="store-switched-off"),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")], scope=Scope(frozenset({S}), frozenset())),
        set(),
        id="group-switched-off",
    ),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")]),
        {"create P1", "album create G1 Напитки", "add P1 #None to G1"},
        id="group-switched-on",
    ),
    pytest.param(lambda: _w(product(parent_id=None)), {"create P1"}, id="outside-groups-published-without-album"),
    pytest.param(lambda: _w(product(type="SERVICE")), {"create P1"}, id="service-published-by-default"),
    pytest.param(
        lambda: _w(product(type="SERVICE"), settings=Settings(publish_services=False)),
        set(),
        id="service-not-published-by-setting",
    ),
    pytest.param(lambda: _w(product(type="SHOES_MARKED")), {"create P1"}, id="other-types-published"),
    pytest.param(lambda: _w(product(type="SOMETHING_NEW")), {"create P1"}, id="unknown-type-is-normal"),
    pytest.param(
        lambda: _w(product(type="ALCOHOL_NOT_MARKED")),
        {"skip P1: not published: alcohol (distance selling is forbidden)"},
        id="alcohol-not-published",
    ),
    pytest.param(
        lambda: _w(product(type="BEER_MARKED_KEG")),
        {"skip P1: not published: alcohol (distance selling is forbidden)"},
        id="beer-is-alcohol",
    ),
    pytest.param(
        lambda: _w(product(type="TOBACCO_PRODUCTS_MARKED")),
        {"skip P1: not published: tobacco or nicotine (distance selling is forbidden)"},
        id="tobacco-not-published",
    ),
    pytest.param(
        lambda: _w(product(type="ALCOHOL_MARKED"), settings=Settings(publish_alcohol=True)),
        {"create P1"},
        id="alcohol-switched-on-published",
    ),
    pytest.param(
        lambda: _w(product(type="TOBACCO_MARKED"), settings=Settings(publish_alcohol=True)),
        {"skip P1: not published: tobacco or nicotine (distance selling is forbidden)"},
        id="families-switch-apart",
    ),
    pytest.param(lambda: _w(product(price=0)), {"skip P1: zero or missing price"}, id="zero-price-skipped-with-reason"),
    pytest.param(lambda: _w(product(price=None)), {"skip P1: zero or missing price"}, id="missing-price-skipped"),
    pytest.param(lambda: _w(product(price=-1)), {"skip P1: zero or missing price"}, id="negative-price-skipped"),
    pytest.param(lambda: _w(product(price=float("nan"))), {"skip P1: zero or missing price"}, id="nan-price-skipped"),
    pytest.param(lambda: _w(product(price=10**12)), {"skip P1: price out of VK's range"}, id="enormous-price-skipped"),
    pytest.param(
        lambda: _w(product(price="1e999999")), {"skip P1: price out of VK's range"}, id="astronomical-price-skipped"
    ),
    pytest.param(lambda: _w(product(quantity=0), settings=NO_STOCK), set(), id="out-of-stock-remove-not-published"),
    pytest.param(lambda: _w(product(quantity=0)), {"create P1"}, id="out-of-stock-unavailable-still-created"),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")], settings=Settings(albums_enabled=False)),
        {"create P1"},
        id="albums-switched-off",
    ),
    # albums
    pytest.param(lambda: _w(product(parent_id="GX")), {"create P1"}, id="group-unknown-to-the-tree-no-album"),
    pytest.param(
        lambda: _w(
            product(parent_id="M1", attributes_choices={"size": "s"}),
            groups=[group("G1"), group("M1", "Футболка", "G1", [SIZES])],
        ),
        {"create P1", "album create G1 Напитки", "add P1 #None to G1"},
        id="variant-in-album-of-nearest-category",
    ),
    pytest.param(
        lambda: _w(
            product(parent_id="M2", attributes_choices={"size": "s"}),
            groups=[group("G1"), group("M1", "A", "G1", [SIZES]), group("M2", "B", "M1", [SIZES])],
        ),
        {"create P1", "album create G1 Напитки", "add P1 #None to G1"},
        id="variant-of-nested-modification-groups",
    ),
    pytest.param(
        lambda: _w(
            product(parent_id="M1", attributes_choices={"size": "s"}), groups=[group("M1", "Футболка", None, [SIZES])]
        ),
        {"create P1"},
        id="variant-without-category-no-album",
    ),
    pytest.param(
        lambda: _w(product("P1", parent_id="G1"), product("P2", parent_id="G1"), groups=[group("G1")]),
        {"create P1", "create P2", "album create G1 Напитки", "add P1 #None to G1", "add P2 #None to G1"},
        id="one-album-per-group",
    ),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1", "Я" * 300)]),
        {"create P1", f"album create G1 {'Я' * 127}…", "add P1 #None to G1"},
        id="long-group-name-fitted",
    ),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")]).album("G1", 5, linked=False),
        {"create P1", "album adopt G1 #5", "add P1 #None to G1"},
        id="unlinked-album-with-same-title-adopted",
    ),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")]).album("G1", 5, "Разное", linked=False),
        {"create P1", "album create G1 Напитки", "add P1 #None to G1"},
        id="hand-made-album-with-other-title-untouched",
    ),
    pytest.param(lambda: _published(groups=[group("G1")]), set(), id="linked-album-kept"),
    pytest.param(
        lambda: _published(groups=[group("G1", "Чай и кофе")]).album("G2", 6, "Напитки", linked=False),
        {"album rename G1 #5 Чай и кофе"},
        id="album-renamed-with-group",
    ),
    pytest.param(
        lambda: _published(groups=[group("G1")], parent_id=None), {"album delete G1 #5"}, id="emptied-album-deleted"
    ),
    pytest.param(
        lambda: _w(product()).album("G1", 5, linked=True),
        {"create P1", "album delete G1 #5"},
        id="album-link-of-unused-group-deleted",
    ),
    pytest.param(
        lambda: World([product()], album_links=[AlbumLink(S, "G1", 5, "Напитки")]),
        {"create P1", "album delete G1 #None"},
        id="album-gone-in-vk-link-dropped",
    ),
    pytest.param(
        lambda: World([product(parent_id="G1")], [group("G1")], album_links=[AlbumLink(S, "G1", 5, "X")]),
        {"create P1", "album create G1 Напитки", "add P1 #None to G1"},
        id="album-deleted-in-vk-recreated",
    ),
    pytest.param(
        lambda: _w(product(parent_id="G1"), groups=[group("G1")])
        .album("G1", 9, "Напитки", linked=False)
        .album("G1", 5, "Напитки", linked=False),
        {"create P1", "album adopt G1 #5", "add P1 #None to G1"},
        id="lowest-of-same-title-albums-adopted",
    ),
]


@pytest.mark.parametrize(("world", "expected"), PUBLISH_ROWS)
def test_publication_and_albums(world: Callable[[], World], expected: set[str]):
    """What is published and in which album, as the whole list of operations the plan makes."""
    plan = world().plan()
    assert ops(plan) == expected
    assert plan.has_writes == bool(expected - {o for o in expected if o.startswith(("skip", "forget", "adopt"))})


def _moved(target: str | None, with_album: bool) -> World:
    """P1 published as #7 in album #5 of G1 (P2 keeps G1 in use), now moved to ``target``."""
    w = World([product("P1", parent_id=target), product("P2", parent_id="G1")], [group("G1"), group("G2")])
    w.publish(product("P1", parent_id="G1"), 7, album_ids=(5,))
    w.publish(product("P2", parent_id="G1"), 8, album_ids=(5,))
    w.album("G1", 5)
    return w.album("G2", 6) if with_album else w


def _out_of_album() -> World:
    w = _published(groups=[group("G1")])
    w.vk_items[0] = dataclasses.replace(w.vk_items[0], album_ids=())
    return w


MEMBERSHIP_ROWS = [
    pytest.param(
        lambda: _moved("G2", True), {"take P1 #7 out of #5", "add P1 #7 to G2"}, id="moved-to-group-with-album"
    ),
    pytest.param(
        lambda: _moved("G2", False),
        {"take P1 #7 out of #5", "add P1 #7 to G2", "album create G2 Сладости"},
        id="moved-to-group-without-album",
    ),
    pytest.param(lambda: _moved(None, False), {"take P1 #7 out of #5"}, id="moved-out-of-groups"),
    pytest.param(
        lambda: _published(groups=[group("G1"), group("G2")], parent_id="G2").album("G2", 6),
        {"add P1 #7 to G2", "album delete G1 #5"},
        id="moved-and-old-album-emptied-deleted-not-emptied",
    ),
    pytest.param(_out_of_album, {"add P1 #7 to G1"}, id="taken-out-of-our-album-by-hand-added-back"),
]


@pytest.mark.parametrize(("world", "expected"), MEMBERSHIP_ROWS)
def test_album_membership(world: Callable[[], World], expected: set[str]):
    """A product that changes group leaves our old album and joins the new one."""
    assert ops(world().plan()) == expected


def test_hand_made_album_membership_never_touched():
    """An item of ours sitting in an album the merchant made by hand stays there when it moves group."""
    w = World([product(parent_id="G2")], [group("G1"), group("G2")])
    w.publish(product(parent_id="G1"), 7, album_ids=(5, 99))
    w.album("G1", 5).album("G2", 6).album("G3", 99, "Хиты", linked=False)
    assert ops(w.plan()) == {"add P1 #7 to G2", "album delete G1 #5"}


UPDATE_ROWS = [
    pytest.param(lambda: _published(), set(), id="nothing-changed-no-operation"),
    pytest.param(lambda: _published(price=120), {"update P1 #7 price"}, id="price-changed"),
    pytest.param(lambda: _published(name="Чай чёрный"), {"update P1 #7 name"}, id="name-changed"),
    pytest.param(lambda: _published(name="  Чай   зелёный "), set(), id="whitespace-only-name-change-no-operation"),
    pytest.param(
        lambda: _published(description="Другое описание товара."),
        {"update P1 #7 description"},
        id="description-changed",
    ),
    pytest.param(lambda: _published(quantity=3), {"update P1 #7 stock_amount"}, id="stock-changed"),
    pytest.param(lambda: _published(quantity="5.9"), set(), id="fractional-stock-floors-to-same"),
    pytest.param(
        lambda: _published(quantity=0), {"update P1 #7 deleted,stock_amount"}, id="out-of-stock-marked-unavailable"
    ),
    pytest.param(lambda: _published(quantity=-2), {"update P1 #7 deleted,stock_amount"}, id="negative-stock-is-zero"),
    pytest.param(
        lambda: _published(Settings(out_of_stock="keep"), quantity=0),
        {"update P1 #7 stock_amount"},
        id="out-of-stock-kept-available",
    ),
    pytest.param(lambda: _published(NO_STOCK, quantity=0), {"delete P1 #7"}, id="out-of-stock-removed"),
    pytest.param(lambda: _published(Settings(markup_percent=Decimal(10))), {"update P1 #7 price"}, id="markup-changed"),
    pytest.param(
        lambda: _published(Settings(price_rounding="ten"), price="101.5"), set(), id="price-change-hidden-by-rounding"
    ),
    pytest.param(lambda: _published(Settings(category_id=1001)), {"update P1 #7 category_id"}, id="category-changed"),
    pytest.param(
        lambda: _published(Settings(description_template="{name}: {measure}"), description=""),
        {"update P1 #7 description"},
        id="template-changed",
    ),
    pytest.param(lambda: _published(image_key="img-1@2024"), {"update P1 #7 - +photo"}, id="image-changed-new-upload"),
    pytest.param(lambda: _published(groups=[group("G1")], parent_id="G1"), set(), id="group-same-no-operation"),
]


@pytest.mark.parametrize(("world", "expected"), UPDATE_ROWS)
def test_field_level_updates(world: Callable[[], World], expected: set[str]):
    """An item we pushed is edited only in the fields that changed since; nothing changed, no operation."""
    plan = world().plan()
    assert ops(plan) == expected
    assert plan.has_writes == bool(expected)
    assert plan.unchanged == (0 if expected else 1)


def _drifted(**vk) -> World:
    w = World([product()])
    return w.publish(product(), 7, **vk)


def _unrecorded_photo() -> World:
    w = _published()
    w.links[0] = dataclasses.replace(w.links[0], vk_photo_id=None)
    return w


def _not_pushed() -> World:
    w = _published()
    w.links[0] = dataclasses.replace(w.links[0], pushed=None)
    return w


DRIFT_ROWS = [
    pytest.param(lambda: _drifted(title="Чай (скидка!)"), {"update P1 #7 name"}, id="title-edited-in-vk"),
    pytest.param(lambda: _drifted(price=Decimal("1.00")), {"update P1 #7 price"}, id="price-edited-in-vk"),
    pytest.param(lambda: _drifted(price=Decimal("100")), set(), id="price-same-number-other-form"),
    pytest.param(lambda: _drifted(availability=UNAVAILABLE), {"update P1 #7 deleted"}, id="hidden-in-vk"),
    pytest.param(
        lambda: World([product(), product("P2")]).publish(product(), 7, sku=None).publish(product("P2"), 8),
        {"update P1 #7 sku"},
        id="sku-cleared-in-vk",
    ),
    pytest.param(lambda: _drifted(sku=None), set(), id="no-sku-returned-at-all-nothing-to-put-back"),
    pytest.param(lambda: _drifted(description="changed by hand"), set(), id="description-edit-in-vk-left"),
    pytest.param(_unrecorded_photo, {"update P1 #7 - +photo"}, id="no-photo-recorded-new-upload"),
    # VK shows the photo we saved as the item's main photo: no new upload.
    pytest.param(_not_pushed, {f"update P1 #7 {ALL_FIELDS}"}, id="nothing-recorded-as-pushed-all-sent"),
]


@pytest.mark.parametrize(("world", "expected"), DRIFT_ROWS)
def test_drift_corrected(world: Callable[[], World], expected: set[str]):
    """What the merchant edits by hand in VK (title, price, availability, sku) is put back; the rest is left."""
    assert ops(world().plan()) == expected


def _gone(removal: str, why: str, **vk) -> World:
    """P1 published as #7, then deleted in Evotor / made unsellable / filtered out, with ``removal`` setting."""
    settings = Settings(removal=removal)
    w = World([], settings=settings)
    w.publish(product(), 7, **vk)
    if why == "unsellable":
        w.products = [product(allow_to_sell=False)]
    elif why == "filtered":
        w.products = [product()]
        w.scope = Scope(frozenset(), frozenset())
    elif why == "zero-price":
        w.products = [product(price=0)]
    return w


REMOVAL_ROWS = [
    pytest.param(lambda: _gone("delete", "deleted"), {"delete P1 #7"}, "deleted in Evotor", id="deleted-delete"),
    pytest.param(
        lambda: _gone("delete", "unsellable"), {"delete P1 #7"}, "not for sale in Evotor", id="unsellable-delete"
    ),
    pytest.param(
        lambda: _gone("delete", "filtered"), {"delete P1 #7"}, "store or group switched off", id="filtered-out-delete"
    ),
    pytest.param(
        lambda: _gone("delete", "zero-price"),
        {"delete P1 #7", "skip P1: zero or missing price"},
        "zero or missing price",
        id="zero-price-delete",
    ),
    pytest.param(lambda: _gone("unavailable", "deleted"), {"hide P1 #7"}, "deleted in Evotor", id="deleted-hide"),
    pytest.param(
        lambda: _gone("unavailable", "unsellable"), {"hide P1 #7"}, "not for sale in Evotor", id="unsellable-hide"
    ),
    pytest.param(
        lambda: _gone("unavailable", "filtered"), {"hide P1 #7"}, "store or group switched off", id="filtered-out-hide"
    ),
    pytest.param(lambda: _gone("leave", "deleted"), set(), None, id="deleted-leave"),
    pytest.param(lambda: _gone("leave", "unsellable"), set(), None, id="unsellable-leave"),
    pytest.param(lambda: _gone("leave", "filtered"), set(), None, id="filtered-out-leave"),
]


@pytest.mark.parametrize(("world", "expected", "reason"), REMOVAL_ROWS)
def test_removal(world: Callable[[], World], expected: set[str], reason: str | None):
    """A product gone from the selection is deleted, hidden or left in VK per the removal setting, with its reason."""
    plan = world().plan()
    assert ops(plan) == expected
    assert [r.reason for r in plan.removals] == ([reason] if reason else [])
    assert plan.published == 1


def _already_hidden() -> World:
    w = _gone("unavailable", "deleted", availability=UNAVAILABLE)
    w.links[0] = dataclasses.replace(w.links[0], status="unavailable")
    return w


def _lost_link(status: str, item_gone: bool = True) -> World:
    w = _gone("delete", "deleted")
    w.links[0] = dataclasses.replace(w.links[0], status=status)
    if item_gone:
        w.vk_items.clear()
    return w


def _ours_unlinked(*item_ids: int, **kw) -> World:
    w = World([product(**kw)])
    for item_id in item_ids:
        w.publish(product(), item_id, link=False)
    return w


def _linked_with_copies() -> World:
    w = _published()
    w.publish(product(), 9, link=False).publish(product(), 8, link=False)
    return w


def _gone_with_copy(removal: str) -> World:
    w = _gone(removal, "unsellable")
    return w.publish(product(), 8, link=False)


def _deleted_by_hand(removed_flag: bool) -> World:
    w = _published()
    if removed_flag:
        w.vk_items[0] = dataclasses.replace(w.vk_items[0], availability=REMOVED)
    else:
        w.vk_items.clear()
    return w


def _foreign(sku: str | None, **kw) -> World:
    w = World([product(**kw)] if kw.get("keep", True) else [])
    w.vk_items.append(VkItem(70, sku, "Чай зелёный", Decimal(100)))
    return w


ITEM_ROWS = [
    pytest.param(_already_hidden, set(), id="already-hidden-not-hidden-again"),
    pytest.param(lambda: _lost_link("published"), {"forget P1"}, id="deleted-product-item-gone-link-forgotten"),
    pytest.param(lambda: _lost_link("removed"), set(), id="removed-link-left-alone"),
    pytest.param(lambda: _deleted_by_hand(False), {"create P1"}, id="deleted-by-hand-in-vk-recreated"),
    pytest.param(
        lambda: _deleted_by_hand(True), {"update P1 #7 deleted"}, id="availability-1-item-shown-again-by-edit"
    ),
    pytest.param(
        lambda: _ours_unlinked(7),
        {"adopt P1 #7", f"update P1 #7 {ALL_FIELDS} +photo"},
        id="vk-item-with-our-sku-adopted-not-created",
    ),
    pytest.param(
        lambda: _ours_unlinked(8, 7),
        {"adopt P1 #7", f"update P1 #7 {ALL_FIELDS} +photo", "duplicate P1 #8"},
        id="lowest-copy-adopted-others-removed",
    ),
    pytest.param(_linked_with_copies, {"duplicate P1 #8", "duplicate P1 #9"}, id="extra-copies-removed-as-duplicates"),
    pytest.param(
        lambda: _ours_unlinked(7, allow_to_sell=False),
        {"delete P1 #7"},
        id="unlinked-item-of-unsellable-product-deleted",
    ),
    pytest.param(
        lambda: _ours_unlinked(8, 7, allow_to_sell=False),
        {"delete P1 #7", "duplicate P1 #8"},
        id="copies-of-unsellable-product-removed-as-duplicates",
    ),
    pytest.param(
        lambda: _gone_with_copy("unavailable"),
        {"hide P1 #7", "duplicate P1 #8"},
        id="copy-of-hidden-product-deleted-not-hidden",
    ),
    pytest.param(lambda: _gone_with_copy("leave"), {"duplicate P1 #8"}, id="copy-of-left-product-deleted"),
    pytest.param(lambda: _foreign("ART-1"), {"create P1"}, id="merchant-item-with-own-sku-never-touched"),
    pytest.param(lambda: _foreign(None), {"create P1"}, id="merchant-item-without-sku-never-touched"),
    pytest.param(
        lambda: _foreign(mapping.sku_for(S, "P404")), {"create P1"}, id="our-sku-of-unknown-product-never-touched"
    ),
    pytest.param(
        lambda: _foreign(mapping.sku_for(S, "P1"), allow_to_sell=False),
        {"delete P1 #70"},
        id="our-sku-of-known-product-removed",
    ),
]


@pytest.mark.parametrize(("world", "expected"), ITEM_ROWS)
def test_items_adoption_duplicates_and_strangers(world: Callable[[], World], expected: set[str]):
    """Our items are adopted, de-duplicated, recreated or forgotten; items EvoSync did not create are never touched."""
    assert ops(world().plan()) == expected


def _orphan_hidden() -> World:
    w = _ours_unlinked(7, allow_to_sell=False)
    w.settings = Settings(removal="unavailable")
    w.vk_items[0] = dataclasses.replace(w.vk_items[0], availability=UNAVAILABLE)
    return w


def test_unlinked_hidden_item_not_hidden_every_run():
    """An item of ours with no link, already hidden, is left alone: with nothing to record, hiding it anew would
    repeat on every run and the sync would never settle."""
    assert ops(_orphan_hidden().plan()) == set()


def test_variants_one_item_each_named_with_values():
    """Each variant of a modification group is its own item, named with its attribute values, in the category album."""
    groups = [group("G1", "Одежда"), group("M1", "Футболка", "G1", [SIZES, COLOURS])]
    variants = [
        product(f"V{n}", name="Футболка", parent_id="M1", attributes_choices={"size": s, "col": c})
        for n, (s, c) in enumerate([("s", "r"), ("s", "b"), ("m", "r")])
    ]
    plan = World(variants, groups).plan()
    names = sorted(c.desired.title for c in plan.creates)
    assert names == ["Футболка (M, красный)", "Футболка (S, красный)", "Футболка (S, синий)"]
    assert {c.desired.album_key for c in plan.creates} == {(S, "G1")}
    assert len({c.desired.sku for c in plan.creates}) == 3


FIELD_ROWS = [
    pytest.param(
        {},
        {},
        {
            "name": "Чай зелёный",
            "price": "100.00",
            "stock_amount": 5,
            "deleted": 0,
            "category_id": 900,
            "description": "Листовой зелёный чай из Китая.",
        },
        id="defaults",
    ),
    pytest.param({"markup_percent": Decimal("15")}, {"price": "99.99"}, {"price": "114.99"}, id="markup"),
    pytest.param({"price_rounding": "ruble"}, {"price": "99.50"}, {"price": "100.00"}, id="rounding-ruble"),
    pytest.param({"price_rounding": "ten"}, {"price": "104.99"}, {"price": "100.00"}, id="rounding-ten"),
    pytest.param(
        {"price_rounding": "ninety_nine"}, {"price": "104.10"}, {"price": "104.99"}, id="rounding-ninety-nine"
    ),
    pytest.param({}, {"quantity": "2.75"}, {"stock_amount": 2}, id="fractional-stock-floors"),
    pytest.param({}, {"quantity": -4}, {"stock_amount": 0, "deleted": 1}, id="negative-stock-zero-unavailable"),
    pytest.param({"out_of_stock": "keep"}, {"quantity": 0}, {"stock_amount": 0, "deleted": 0}, id="out-of-stock-keep"),
    pytest.param({}, {"quantity": None}, {"stock_amount": None, "deleted": 0}, id="stock-unknown-not-sent"),
    pytest.param({}, {"quantity": 10**8}, {"stock_amount": 999_999}, id="stock-capped"),
    pytest.param({"category_id": 40401}, {}, {"category_id": 40401}, id="category-from-settings"),
    pytest.param({}, {"name": "Ок", "article_number": ""}, {"name": "Ок (товар)"}, id="short-name-padded"),
    pytest.param({}, {"name": "Чай 🍵\x00\x1b"}, {"name": "Чай 🍵"}, id="name-emoji-kept-control-dropped"),
    pytest.param(
        {},
        {"description": "<b>Чай</b> с сайта https://x.ru!"},
        {"description": "Чай с сайта"},
        id="description-html-and-links-stripped",
    ),
    pytest.param(
        {},
        {"description": None},
        {"description": "Чай зелёный. Артикул: АРТ-1. Единица: шт."},
        id="description-from-template",
    ),
    pytest.param(
        {"description_template": "{name} ({measure})"},
        {"description": "", "measure_name": "кг"},
        {"description": "Чай зелёный (кг)"},
        id="description-own-template",
    ),
]


@pytest.mark.parametrize(("settings", "changes", "expected"), FIELD_ROWS)
def test_item_fields(settings: dict, changes: dict, expected: dict):
    """The market.add fields of a new item follow the product and the merchant's settings."""
    (create,) = World([product(**changes)], settings=Settings(**settings)).plan().creates
    fields = create.desired.fields
    for name, value in expected.items():
        assert fields.get(name) == value, name
    assert fields["sku"] == mapping.sku_for(S, "P1")


def test_sku_distinct_per_store_and_product():
    """The same product id in two stores, and two products of one store, get different skus."""
    plan = World([product("P1"), product("P2"), product("P1", store_id="S2")]).plan()
    assert len({c.desired.sku for c in plan.creates}) == 3
    assert all(len(c.desired.sku) <= 50 for c in plan.creates)


GUARD_ROWS = [
    pytest.param(lambda: _w(product()), 0, 0, id="first-sync-nothing-published"),
    pytest.param(_published, 1, 0, id="one-published-unchanged"),
    pytest.param(lambda: _gone("delete", "deleted"), 1, 1, id="one-removed"),
    pytest.param(lambda: _gone("leave", "deleted"), 1, 0, id="leave-counts-published-not-removal"),
    pytest.param(_linked_with_copies, 1, 0, id="duplicates-not-counted"),
    pytest.param(lambda: _ours_unlinked(7, allow_to_sell=False), 1, 1, id="unlinked-ours-counted"),
    pytest.param(lambda: _deleted_by_hand(False), 0, 0, id="gone-in-vk-not-published"),
    pytest.param(lambda: _foreign(None, keep=False), 0, 0, id="strangers-not-counted"),
]


@pytest.mark.parametrize(("world", "published", "removal_count"), GUARD_ROWS)
def test_mass_removal_guard_numbers(world: Callable[[], World], published: int, removal_count: int):
    """`published` counts our live items before the plan; `removal_count` the removals the merchant would notice."""
    plan = world().plan()
    assert (plan.published, plan.removal_count) == (published, removal_count)


def test_mass_removal_numbers_for_a_catalog():
    """Fifty published products, twenty of them gone from Evotor: 50 published, 20 removals, 30 unchanged."""
    w = World([product(f"P{n}") for n in range(30)])
    for n in range(50):
        w.publish(product(f"P{n}"), 100 + n)
    plan = w.plan()
    assert (plan.published, plan.removal_count, plan.unchanged) == (50, 20, 30)
    assert plan.summary()["remove"] == 20


def test_nothing_changed_in_a_full_catalog_means_no_writes():
    """A catalog with groups, variants, albums and hidden items that VK already mirrors gives no operation at all."""
    groups = [group("G1"), group("G2"), group("M1", "Футболка", "G2", [SIZES])]
    products = [
        product("P1", parent_id="G1"),
        product("P2", parent_id="G2", quantity=0),
        product("P3"),
        product("V1", parent_id="M1", attributes_choices={"size": "s"}),
        product("V2", parent_id="M1", attributes_choices={"size": "m"}, image_key="img-2"),
    ]
    w = World(products, groups).album("G1", 5).album("G2", 6)
    for n, p in enumerate(products):
        w.publish(p, 10 + n, album_ids={"G1": (5,), "G2": (6,), "M1": (6,)}.get(p.parent_id, ()))
    plan = w.plan()
    assert ops(plan) == set()
    assert not plan.has_writes
    assert plan.unchanged == 5
