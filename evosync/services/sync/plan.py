"""The sync plan: desired VK state against what we pushed and what VK holds -> operations. Pure: no I/O.

Inputs are plain frozen dataclasses (built from the database by services/sync/loader.py), the output is a
Plan of plain operations that services/sync/apply.py runs and the preview page describes. Decisions:

- Only sellable products of enabled stores and groups are published; a zero price is skipped with a reason.
- An item we pushed before is edited only in the fields that changed since (``pushed``), or that drifted in VK
  (edited by hand: title, price, availability); nothing changed -> no operation.
- An item is never created twice: a VK item carrying our sku is adopted first; extra copies are removed.
- Items EvoSync did not create (no link, not our sku) are never touched.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from . import mapping


def N_(text: str) -> str:
    """Marks a reason for the translation catalog; it stays English data here and pages translate it when shown."""
    return text


Key = tuple[str, str]  # (Evotor store id, Evotor product id)
AlbumKey = tuple[str, str]  # (Evotor store id, Evotor group id)

AVAILABLE, REMOVED, UNAVAILABLE = 0, 1, 2  # VK item availability


# ----------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Settings:
    markup_percent: Decimal = Decimal(0)
    price_rounding: str = "none"  # none | ruble | ten | ninety_nine
    out_of_stock: str = "unavailable"  # unavailable | remove | keep
    removal: str = "delete"  # delete | unavailable | leave
    category_id: int = 900
    description_template: str = mapping.DEFAULT_DESCRIPTION_TEMPLATE
    albums_enabled: bool = True
    publish_services: bool = True


@dataclass(frozen=True, slots=True)
class Product:
    store_id: str
    id: str
    name: str
    price: object
    quantity: object = None
    allow_to_sell: bool = True
    description: str = ""
    article_number: str = ""
    code: str = ""
    measure_name: str = ""
    parent_id: str | None = None
    type: str = "NORMAL"
    attributes_choices: dict | None = None
    image_key: str | None = None  # identifies the Evotor image (id + updated_at); None -> default photo

    @property
    def key(self) -> Key:
        return (self.store_id, self.id)


@dataclass(frozen=True, slots=True)
class Group:
    store_id: str
    id: str
    name: str
    parent_id: str | None = None
    attributes: tuple | list | None = None  # set on modification groups


@dataclass(frozen=True, slots=True)
class Scope:
    """What the merchant chose to publish: enabled store ids and enabled (store, group) pairs."""

    stores: frozenset[str]
    groups: frozenset[AlbumKey]

    def includes(self, product: Product) -> bool:
        if product.store_id not in self.stores:
            return False
        return product.parent_id is None or (product.store_id, product.parent_id) in self.groups


@dataclass(frozen=True, slots=True)
class Link:
    store_id: str
    product_id: str
    sku: str
    vk_item_id: int | None = None
    vk_photo_id: int | None = None
    photo_hash: str | None = None
    content_hash: str | None = None
    pushed: dict | None = None
    status: str = "pending"

    @property
    def key(self) -> Key:
        return (self.store_id, self.product_id)


@dataclass(frozen=True, slots=True)
class AlbumLink:
    store_id: str
    group_id: str
    vk_album_id: int | None
    title: str = ""

    @property
    def key(self) -> AlbumKey:
        return (self.store_id, self.group_id)


@dataclass(frozen=True, slots=True)
class VkItem:
    item_id: int
    sku: str | None
    title: str = ""
    price: Decimal | None = None
    availability: int = AVAILABLE
    album_ids: tuple[int, ...] = ()
    description: str | None = None
    category_id: int | None = None


@dataclass(frozen=True, slots=True)
class VkAlbum:
    album_id: int
    title: str


@dataclass
class PlanInput:
    settings: Settings
    products: Iterable[Product]
    groups: Iterable[Group]
    scope: Scope
    links: Iterable[Link] = ()
    album_links: Iterable[AlbumLink] = ()
    vk_items: Iterable[VkItem] = ()
    vk_albums: Iterable[VkAlbum] = ()
    default_photo_key: str = "default"


# ----------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Desired:
    key: Key
    sku: str
    fields: dict  # market.add/edit fields: name, description, price, category_id, deleted, sku, stock_amount?
    album_key: AlbumKey | None
    photo_key: str
    image_key: str | None

    @property
    def title(self) -> str:
        return self.fields["name"]

    @property
    def hash(self) -> str:
        return mapping.content_hash(self.fields)


@dataclass(frozen=True, slots=True)
class Create:
    desired: Desired


@dataclass(frozen=True, slots=True)
class Update:
    desired: Desired
    vk_item_id: int
    changed: dict  # only the fields to send
    new_photo: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Adopt:
    key: Key
    sku: str
    vk_item_id: int


@dataclass(frozen=True, slots=True)
class Remove:
    key: Key | None
    vk_item_id: int
    title: str
    mode: str  # delete | hide
    reason: str
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Forget:
    """A link whose item is already gone from VK and whose product is no longer published."""

    key: Key


@dataclass(frozen=True, slots=True)
class Skip:
    key: Key
    title: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlbumCreate:
    album_key: AlbumKey
    title: str


@dataclass(frozen=True, slots=True)
class AlbumAdopt:
    album_key: AlbumKey
    vk_album_id: int
    title: str


@dataclass(frozen=True, slots=True)
class AlbumRename:
    album_key: AlbumKey
    vk_album_id: int
    title: str


@dataclass(frozen=True, slots=True)
class AlbumDelete:
    album_key: AlbumKey
    vk_album_id: int | None
    title: str


@dataclass(frozen=True, slots=True)
class AlbumAdd:
    key: Key
    vk_item_id: int | None  # None: the item is created in this plan
    album_key: AlbumKey


@dataclass(frozen=True, slots=True)
class AlbumRemove:
    key: Key | None
    vk_item_id: int
    vk_album_id: int


@dataclass
class Plan:
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    adoptions: list[Adopt] = field(default_factory=list)
    removals: list[Remove] = field(default_factory=list)
    forgets: list[Forget] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    album_creates: list[AlbumCreate] = field(default_factory=list)
    album_adoptions: list[AlbumAdopt] = field(default_factory=list)
    album_renames: list[AlbumRename] = field(default_factory=list)
    album_deletes: list[AlbumDelete] = field(default_factory=list)
    album_adds: list[AlbumAdd] = field(default_factory=list)
    album_removes: list[AlbumRemove] = field(default_factory=list)
    unchanged: int = 0
    published: int = 0  # items of ours live in VK before this plan

    @property
    def has_writes(self) -> bool:
        return bool(
            self.creates
            or self.updates
            or self.removals
            or self.album_creates
            or self.album_renames
            or self.album_deletes
            or self.album_adds
            or self.album_removes
        )

    @property
    def has_writes_besides_removals(self) -> bool:
        return bool(
            self.creates
            or self.updates
            or self.album_creates
            or self.album_renames
            or self.album_deletes
            or self.album_adds
            or self.album_removes
            or any(r.duplicate for r in self.removals)
        )

    @property
    def removal_count(self) -> int:
        """Removals the merchant would notice (duplicates we made are not theirs)."""
        return sum(1 for r in self.removals if not r.duplicate)

    def summary(self) -> dict:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "remove": self.removal_count,
            "duplicates": len(self.removals) - self.removal_count,
            "skipped": len(self.skipped),
            "unchanged": self.unchanged,
            "albums_create": len(self.album_creates),
            "albums_rename": len(self.album_renames),
            "albums_delete": len(self.album_deletes),
            "album_moves": len(self.album_adds) + len(self.album_removes),
        }


# ----------------------------------------------------------------------------------------------- rules


class _Tree:
    """Evotor's group tree of the merchant, for albums and variant names."""

    def __init__(self, groups: Iterable[Group]):
        self.groups: dict[AlbumKey, Group] = {(g.store_id, g.id): g for g in groups}

    def get(self, store_id: str, group_id: str | None) -> Group | None:
        return self.groups.get((store_id, group_id)) if group_id else None

    def album_group(self, product: Product) -> Group | None:
        """The nearest ancestor that is a real category (modification groups hold variants, not goods)."""
        group = self.get(product.store_id, product.parent_id)
        seen = set()
        while group is not None and group.attributes and group.id not in seen:
            seen.add(group.id)
            group = self.get(group.store_id, group.parent_id)
        return group

    def variant_label(self, product: Product) -> str:
        group = self.get(product.store_id, product.parent_id)
        if group is None or not group.attributes or not product.attributes_choices:
            return ""
        values = []
        for attribute in group.attributes:
            if not isinstance(attribute, dict):
                continue
            chosen = product.attributes_choices.get(attribute.get("id"))
            for choice in attribute.get("choices") or ():
                if isinstance(choice, dict) and choice.get("id") == chosen and choice.get("name"):
                    values.append(str(choice["name"]))
        return ", ".join(values)


def desired_item(product: Product, settings: Settings, tree: _Tree, default_photo_key: str) -> Desired | str:
    """The VK item a product should be, or the reason it is not published."""
    if not product.allow_to_sell:
        return N_("not for sale in Evotor")
    if product.type == "SERVICE" and not settings.publish_services:
        return N_("services are not published (sync settings)")
    price = mapping.item_price(product.price, settings.markup_percent, settings.price_rounding)
    if price is None:
        number = mapping.to_decimal(product.price)
        if number is None or number <= 0:
            return N_("zero or missing price")
        return N_("price out of VK's range")
    stock = mapping.stock_amount(product.quantity)
    out_of_stock = stock is not None and stock <= 0
    if out_of_stock and settings.out_of_stock == "remove":
        return N_("out of stock")
    name = mapping.item_name(product.name, tree.variant_label(product), product.article_number, product.code)
    values = {
        "name": name,
        "article": mapping.tidy_line(product.article_number) or mapping.tidy_line(product.code),
        "code": mapping.tidy_line(product.code),
        "measure": mapping.tidy_line(product.measure_name),
        "price": f"{price}",
    }
    sku = mapping.sku_for(product.store_id, product.id)
    fields = {
        "name": name,
        "description": mapping.item_description(product.description, settings.description_template, values),
        "category_id": int(settings.category_id),
        "price": f"{price}",
        "deleted": 1 if out_of_stock and settings.out_of_stock == "unavailable" else 0,
        "sku": sku,
    }
    if stock is not None:
        fields["stock_amount"] = stock
    album_group = tree.album_group(product) if settings.albums_enabled else None
    return Desired(
        key=product.key,
        sku=sku,
        fields=fields,
        album_key=(album_group.store_id, album_group.id) if album_group else None,
        photo_key=product.image_key or default_photo_key,
        image_key=product.image_key,
    )


def _drift(desired: Desired, vk: VkItem, pushed: dict) -> dict:
    """Fields VK shows differently from what we want (edited by hand in VK, or never written by us)."""
    changed = {}
    fields = desired.fields
    if vk.title != fields["name"] and html.unescape(vk.title) != fields["name"]:  # VK may answer HTML-escaped
        changed["name"] = fields["name"]
    if vk.price is not None and Decimal(vk.price) != Decimal(fields["price"]):
        changed["price"] = fields["price"]
    want_unavailable = fields["deleted"] == 1
    if (vk.availability == UNAVAILABLE) != want_unavailable:
        changed["deleted"] = fields["deleted"]
    if vk.sku != desired.sku:
        changed["sku"] = desired.sku
    if not pushed:  # adopted: we never wrote it, so compare what VK lets us read
        if vk.description is not None and vk.description != fields["description"]:
            changed["description"] = fields["description"]
        if vk.category_id is not None and vk.category_id != fields["category_id"]:
            changed["category_id"] = fields["category_id"]
        if "stock_amount" in fields:
            changed["stock_amount"] = fields["stock_amount"]
    return changed


def build_plan(data: PlanInput) -> Plan:
    settings = data.settings
    tree = _Tree(data.groups)
    plan = Plan()

    links = {link.key: link for link in data.links}
    vk_items = {item.item_id: item for item in data.vk_items}
    ours_by_sku: dict[str, list[VkItem]] = defaultdict(list)
    for item in vk_items.values():
        if item.sku and mapping.is_our_sku(item.sku) and item.availability != REMOVED:
            ours_by_sku[item.sku].append(item)
    for items in ours_by_sku.values():
        items.sort(key=lambda i: i.item_id)

    desired: dict[Key, Desired] = {}
    not_published: dict[Key, str] = {}
    key_by_sku: dict[str, Key] = {}
    for product in data.products:
        key_by_sku[mapping.sku_for(product.store_id, product.id)] = product.key
        if not data.scope.includes(product):
            not_published[product.key] = N_("store or group switched off")
            continue
        outcome = desired_item(product, settings, tree, data.default_photo_key)
        if isinstance(outcome, str):
            not_published[product.key] = outcome
            if outcome in ("zero or missing price", "price out of VK's range"):
                plan.skipped.append(Skip(product.key, mapping.item_name(product.name), outcome))
            continue
        desired[product.key] = outcome

    # ---- albums
    album_links = {al.key: al for al in data.album_links}
    vk_albums = {a.album_id: a for a in data.vk_albums}
    linked_album_ids = {al.vk_album_id for al in album_links.values() if al.vk_album_id}
    needed_albums: dict[AlbumKey, str] = {}
    for d in desired.values():
        if d.album_key and d.album_key not in needed_albums:
            group = tree.get(*d.album_key)
            needed_albums[d.album_key] = mapping.album_title(group.name if group else "")
    album_id_by_key: dict[AlbumKey, int] = {}
    free_albums_by_title: dict[str, list[int]] = defaultdict(list)
    for album in sorted(vk_albums.values(), key=lambda a: a.album_id):
        if album.album_id not in linked_album_ids:
            free_albums_by_title[album.title].append(album.album_id)
    for album_key, title in needed_albums.items():
        link = album_links.get(album_key)
        if link and link.vk_album_id and link.vk_album_id in vk_albums:
            album_id_by_key[album_key] = link.vk_album_id
            if vk_albums[link.vk_album_id].title != title:
                plan.album_renames.append(AlbumRename(album_key, link.vk_album_id, title))
        elif free_albums_by_title.get(title):
            album_id = free_albums_by_title[title].pop(0)  # a lost answer to our addAlbum: adopt it
            album_id_by_key[album_key] = album_id
            plan.album_adoptions.append(AlbumAdopt(album_key, album_id, title))
        else:
            plan.album_creates.append(AlbumCreate(album_key, title))
    deleting_album_ids = set()
    for album_key, link in album_links.items():
        if album_key in needed_albums:
            continue
        if link.vk_album_id and link.vk_album_id in vk_albums:
            deleting_album_ids.add(link.vk_album_id)
        plan.album_deletes.append(
            AlbumDelete(album_key, link.vk_album_id if link.vk_album_id in vk_albums else None, link.title)
        )
    our_album_ids = {aid for aid in (set(album_id_by_key.values()) | linked_album_ids) if aid in vk_albums}

    # ---- items we want
    claimed: set[int] = set()
    for key, d in desired.items():
        link = links.get(key)
        vk_id = link.vk_item_id if link else None
        vk_item = vk_items.get(vk_id) if vk_id else None
        if vk_item is not None and vk_item.availability == REMOVED:
            vk_item = None
        reasons: list[str] = []
        adopted = False
        if vk_item is None:
            copies = [i for i in ours_by_sku.get(d.sku, ()) if i.item_id not in claimed]
            if copies:
                vk_item = copies[0]
                adopted = True
                plan.adoptions.append(Adopt(key, d.sku, vk_item.item_id))
            elif vk_id:
                reasons.append(N_("the item was deleted in VK"))
        if vk_item is not None:
            claimed.add(vk_item.item_id)
            for extra in ours_by_sku.get(d.sku, ()):
                if extra.item_id != vk_item.item_id and extra.item_id not in claimed:
                    claimed.add(extra.item_id)
                    plan.removals.append(
                        Remove(key, extra.item_id, extra.title, "delete", N_("duplicate copy"), duplicate=True)
                    )
        if vk_item is None:
            plan.creates.append(Create(d))
            if d.album_key:
                plan.album_adds.append(AlbumAdd(key, None, d.album_key))
            continue

        plan.published += 1
        pushed = (link.pushed or {}) if (link and not adopted and link.vk_item_id == vk_item.item_id) else {}
        changed = {name: value for name, value in d.fields.items() if pushed.get(name) != value}
        if pushed:
            reasons.extend(sorted(changed))
        changed.update(_drift(d, vk_item, pushed))
        if not pushed:
            reasons.append(N_("adopted an item EvoSync had created") if adopted else N_("first sync of this item"))
        # A photo id serves one item: a new image (or none recorded) means a new upload.
        # It counts as done only once the saved photo is the item's main photo (``pushed``).
        new_photo = not (
            link
            and link.vk_photo_id
            and link.photo_hash == d.photo_key
            and pushed.get("main_photo_id") == link.vk_photo_id
        )
        if new_photo and "photo" not in reasons:
            reasons.append("photo")
        if changed or new_photo:
            plan.updates.append(Update(d, vk_item.item_id, changed, new_photo, tuple(dict.fromkeys(reasons))))
        else:
            plan.unchanged += 1

        # album membership: only our albums are ours to change
        current = {aid for aid in vk_item.album_ids if aid in our_album_ids}
        target = album_id_by_key.get(d.album_key) if d.album_key else None
        for aid in sorted(current - {target} - deleting_album_ids):
            plan.album_removes.append(AlbumRemove(key, vk_item.item_id, aid))
        if d.album_key and (target is None or target not in vk_item.album_ids):
            plan.album_adds.append(AlbumAdd(key, vk_item.item_id, d.album_key))

    # ---- items we no longer want
    for key, link in links.items():
        if key in desired:
            continue
        item = vk_items.get(link.vk_item_id) if link.vk_item_id else None
        if item is None or item.availability == REMOVED:
            if link.status != "removed":
                plan.forgets.append(Forget(key))
            continue
        claimed.add(item.item_id)
        plan.published += 1
        _plan_removal(plan, settings, key, item, not_published.get(key, N_("deleted in Evotor")), link.status)
    for sku, items in ours_by_sku.items():
        key = key_by_sku.get(sku)
        if key is None or key in desired:
            continue  # not provably a product of this merchant's catalog: never touched
        link = links.get(key)
        has_primary = link is not None and link.vk_item_id in claimed
        for item in items:
            if item.item_id in claimed:
                continue
            claimed.add(item.item_id)
            if has_primary:  # a second copy we made (a lost answer): deleted whatever the removal setting
                plan.removals.append(
                    Remove(key, item.item_id, item.title, "delete", N_("duplicate copy"), duplicate=True)
                )
                continue
            has_primary = True
            plan.published += 1
            _plan_removal(plan, settings, key, item, not_published.get(key, N_("deleted in Evotor")), None)
    return plan


def _plan_removal(plan: Plan, settings: Settings, key: Key, item: VkItem, reason: str, status: str | None) -> None:
    if settings.removal == "leave":
        return
    if settings.removal == "unavailable":
        # No link (status None): apply has nothing to record, so an item already hidden stays as it is;
        # hiding it again would repeat on every run.
        if item.availability == UNAVAILABLE and status in ("unavailable", None):
            return
        plan.removals.append(Remove(key, item.item_id, item.title, "hide", reason))
        return
    plan.removals.append(Remove(key, item.item_id, item.title, "delete", reason))
