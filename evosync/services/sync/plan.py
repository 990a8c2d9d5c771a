"""The sync plan: desired VK state against what we pushed and what VK holds -> operations. Pure: no I/O.

Inputs are plain frozen dataclasses (built from the database by services/sync/loader.py), the output is a
Plan of plain operations that services/sync/apply.py runs and the preview page describes. Decisions:

- Only sellable products of enabled stores and groups are published; a zero price is skipped with a reason.
- An item we pushed before is edited only in the fields that changed since (``pushed``), or that drifted in VK
  (edited by hand: title, price, availability); nothing changed -> no operation.
- An item is never created twice. Every VK item is first given to at most one product (``_Ownership``): the
  item's own sku decides; only an item VK returns without a sku falls back to the item id we stored and, when
  even that is lost, to the photo we saved for it, each confirmed by our title or photo. A product's items
  in any state (available, hidden as availability 1 or 2, removed but restorable) are its items: the best
  one is kept and edited or restored, the others are removed as duplicates.
- Items EvoSync did not create (no link, not our sku) are never touched.

docs/VK_READINGS.md explains the VK behaviours that are open and why these rules hold under each.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from . import holds as stock_holds
from . import mapping


def N_(text: str) -> str:
    """Marks a reason for the translation catalog; it stays English data here and pages translate it when shown."""
    return text


Key = tuple[str, str]  # (Evotor store id, Evotor product id)
AlbumKey = tuple[str, str]  # (Evotor store id, Evotor group id)

AVAILABLE, REMOVED, UNAVAILABLE = 0, 1, 2  # VK item availability
# What we know of an availability-1 item (VkCachedProduct.removal): we removed it (restorable), or it is dead.
MARK_DELETED, MARK_DEAD = "deleted", "dead"


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
    publish_alcohol: bool = False  # distance selling is forbidden (171-FZ): off unless the merchant says so
    publish_tobacco: bool = False  # ... (15-FZ)
    vk_owned: frozenset[str] = frozenset()  # names of mapping.VK_OWNABLE_FIELDS that VK decides once published
    group_by_name: bool = False  # flat products named "Base (Flavour)" become one VK card per base (issue 22)


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
    main_photo_id: int | None = None
    removal: str | None = None  # MARK_DELETED / MARK_DEAD, meaningful at availability 1 only
    reject_reason: str | None = None  # VK's moderators rejected or blocked it, in VK's words
    grouping_id: int | None = None  # the VK card (item_group_id) it belongs to

    @property
    def restorable(self) -> bool:
        """Removed with market.delete (by us, or "not found" to an edit) and still returned by VK."""
        return self.availability == REMOVED and self.removal == MARK_DELETED

    @property
    def dead(self) -> bool:
        """Returned by VK as removed, and too late to restore: nobody's item any more."""
        return self.availability == REMOVED and self.removal == MARK_DEAD


@dataclass(frozen=True, slots=True)
class VkAlbum:
    album_id: int
    title: str


@dataclass(frozen=True, slots=True)
class VkProperty:
    """A product property of the community with its variants (title -> VK variant id)."""

    property_id: int
    title: str
    variants: dict = field(default_factory=dict)


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
    variants_on: bool = False  # the community's extended products mode is on: modification groups become cards
    vk_properties: Iterable[VkProperty] = ()
    holds: dict[Key, int] = field(default_factory=dict)  # units open VK orders hold, by product (holds.py)


# ----------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Desired:
    key: Key
    sku: str
    fields: dict  # market.add/edit fields: name, description, price, category_id, deleted, sku, stock_amount?
    album_key: AlbumKey | None
    photo_key: str
    image_key: str | None
    card: AlbumKey | None = None  # the modification group whose VK card it is part of (fields carry variant_ids)

    @property
    def title(self) -> str:
        return self.fields["name"]

    @property
    def hash(self) -> str:
        return mapping.content_hash(self.fields)


@dataclass(frozen=True, slots=True)
class Reserved:
    """Units of a product open VK orders hold: VK shows the Evotor quantity less these."""

    key: Key
    title: str
    units: int


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
    restore: bool = False  # market.restore first: the item was removed and VK still offers it back


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
class Rejected:
    """An item VK's moderation rejected: left as it is until its product changes or the merchant asks again."""

    key: Key
    vk_item_id: int
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


@dataclass(frozen=True, slots=True)
class PropertyCreate:
    """market.addProperty: an Evotor attribute name the community has no property for yet."""

    title: str


@dataclass(frozen=True, slots=True)
class PropertyVariantCreate:
    """market.addPropertyVariant: a choice of an attribute (the property is created first if new)."""

    property_title: str
    title: str


@dataclass(frozen=True, slots=True)
class Card:
    """One Evotor modification group published as one VK card with a picker."""

    card: AlbumKey
    title: str
    options: tuple[str, ...]  # the VK properties of the picker (at most 2)
    members: tuple[Key, ...]


@dataclass(frozen=True, slots=True)
class GroupItems:
    """market.groupItems: the card's items (their ids come from the links once created), into ``item_group_id``
    when the card exists already, else into a new card."""

    card: AlbumKey
    title: str
    members: tuple[Key, ...]
    item_group_id: int | None = None


@dataclass(frozen=True, slots=True)
class Ungroup:
    """market.ungroupItems: a card that is wrong (fewer than 2 variants left, a stranger in it, or its options
    change); done before any other write, so no edit or removal ever meets a card VK would refuse."""

    card: AlbumKey
    title: str
    item_group_id: int
    reason: str


@dataclass
class Plan:
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    adoptions: list[Adopt] = field(default_factory=list)
    removals: list[Remove] = field(default_factory=list)
    forgets: list[Forget] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    album_creates: list[AlbumCreate] = field(default_factory=list)
    album_adoptions: list[AlbumAdopt] = field(default_factory=list)
    album_renames: list[AlbumRename] = field(default_factory=list)
    album_deletes: list[AlbumDelete] = field(default_factory=list)
    album_adds: list[AlbumAdd] = field(default_factory=list)
    album_removes: list[AlbumRemove] = field(default_factory=list)
    property_creates: list[PropertyCreate] = field(default_factory=list)
    variant_creates: list[PropertyVariantCreate] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    groupings: list[GroupItems] = field(default_factory=list)
    ungroupings: list[Ungroup] = field(default_factory=list)
    known_properties: dict = field(default_factory=dict)  # property title -> VK property id
    known_variants: dict = field(default_factory=dict)  # (property title, value) -> VK variant id
    reserved: list[Reserved] = field(default_factory=list)
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
            or self.card_writes
        )

    @property
    def card_writes(self) -> bool:
        return bool(self.property_creates or self.variant_creates or self.groupings or self.ungroupings)

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
            or self.card_writes
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
            "rejected": len(self.rejected),
            "unchanged": self.unchanged,
            "albums_create": len(self.album_creates),
            "albums_rename": len(self.album_renames),
            "albums_delete": len(self.album_deletes),
            "album_moves": len(self.album_adds) + len(self.album_removes),
            "cards": len(self.cards),
            "card_variants": sum(len(c.members) for c in self.cards),
            "card_changes": len(self.groupings) + len(self.ungroupings),
            "properties_create": len(self.property_creates) + len(self.variant_creates),
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

    def variant_label(self, product: Product, leave_out: frozenset = frozenset()) -> str:
        """The product's attribute values ("M, red"), except those of the attributes ``leave_out`` (ids)."""
        group = self.get(product.store_id, product.parent_id)
        if group is None or not group.attributes or not product.attributes_choices:
            return ""
        values = []
        for attribute in group.attributes:
            if not isinstance(attribute, dict) or attribute.get("id") in leave_out:
                continue
            chosen = product.attributes_choices.get(attribute.get("id"))
            for choice in attribute.get("choices") or ():
                if isinstance(choice, dict) and choice.get("id") == chosen and choice.get("name"):
                    values.append(str(choice["name"]))
        return ", ".join(values)


ALCOHOL_REASON = N_("not published: alcohol (distance selling is forbidden)")
TOBACCO_REASON = N_("not published: tobacco or nicotine (distance selling is forbidden)")
# Reasons shown as "skipped" on the preview and the run page (and kept on the product's link).
SHOWN_SKIP_REASONS = frozenset(
    {N_("zero or missing price"), N_("price out of VK's range"), ALCOHOL_REASON, TOBACCO_REASON}
)


def desired_item(
    product: Product, settings: Settings, tree: _Tree, default_photo_key: str, card: _CardShape | None = None
) -> Desired | str:
    """The VK item a product should be, or the reason it is not published. In a ``card`` the item is named after
    the card (the modification group) and the values that are not picker options, and carries its options."""
    if not product.allow_to_sell:
        return N_("not for sale in Evotor")
    family = mapping.restricted_family(product.type)
    if family == "alcohol" and not settings.publish_alcohol:
        return ALCOHOL_REASON
    if family == "tobacco" and not settings.publish_tobacco:
        return TOBACCO_REASON
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
    if card is None:
        name = mapping.item_name(product.name, tree.variant_label(product), product.article_number, product.code)
    else:
        label = tree.variant_label(product, card.attribute_ids)
        name = mapping.item_name(card.title, label, product.article_number, product.code)
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
    if card is not None:
        fields["variant_ids"] = [list(pair) for pair in card.options[product.key]]
    album_group = tree.album_group(product) if settings.albums_enabled else None
    return Desired(
        key=product.key,
        sku=sku,
        fields=fields,
        album_key=(album_group.store_id, album_group.id) if album_group else None,
        photo_key=product.image_key or default_photo_key,
        image_key=product.image_key,
        card=card.key if card is not None else None,
    )


def _drift(desired: Desired, vk: VkItem, pushed: dict, skus_returned: bool = True) -> dict:
    """Fields VK shows differently from what we want (edited by hand in VK, or never written by us)."""
    changed = {}
    fields = desired.fields
    if vk.title != fields["name"] and html.unescape(vk.title) != fields["name"]:  # VK may answer HTML-escaped
        changed["name"] = fields["name"]
    if vk.price is not None and Decimal(vk.price) != Decimal(fields["price"]):
        changed["price"] = fields["price"]
    # Hidden is hidden: VK may report an item saved with deleted=1 as availability 1 or 2 (a reading).
    want_hidden = fields["deleted"] == 1
    if (vk.availability != AVAILABLE) != want_hidden:
        changed["deleted"] = fields["deleted"]
    # VK may leave every sku out of its answers (a reading): a missing one means "cleared by hand" only
    # when VK does return skus for the community's other items.
    if vk.sku != desired.sku and (vk.sku is not None or skus_returned):
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

    desired: dict[Key, Desired] = {}
    publishable: dict[Key, Product] = {}
    not_published: dict[Key, str] = {}
    key_by_sku: dict[str, Key] = {link.sku: key for key, link in links.items() if link.sku}
    products, reserved = stock_holds.apply_to_products(data.products, data.holds)  # VK orders hold stock
    for product in products:
        key_by_sku[mapping.sku_for(product.store_id, product.id)] = product.key
        if product.key in reserved:
            plan.reserved.append(Reserved(product.key, mapping.item_name(product.name), reserved[product.key]))
        if not data.scope.includes(product):
            not_published[product.key] = N_("store or group switched off")
            continue
        outcome = desired_item(product, settings, tree, data.default_photo_key)
        if isinstance(outcome, str):
            not_published[product.key] = outcome
            if outcome in SHOWN_SKIP_REASONS:
                plan.skipped.append(Skip(product.key, mapping.item_name(product.name), outcome))
            continue
        desired[product.key] = outcome
        publishable[product.key] = product
    if data.variants_on:
        _shape_cards(plan, data, tree, desired, publishable)
    owned = _Ownership(vk_items.values(), links, key_by_sku, desired).items_by_key
    skus_returned = any(item.sku for item in vk_items.values())
    vk_owned_fields = {f for name in settings.vk_owned for f in mapping.VK_OWNABLE_FIELDS.get(name, ())}

    album_id_by_key, our_album_ids, deleting_album_ids = _plan_albums(plan, data, tree, desired)

    # ---- items we want
    kept: dict[Key, VkItem | None] = {}  # the item each wanted product keeps (None: created in this plan)
    options_change: set[Key] = set()  # grouped items whose picker options change
    for key, d in desired.items():
        link = links.get(key)
        items = owned.get(key, [])
        vk_item = items[0] if items else None
        kept[key] = vk_item
        _remove_duplicates(plan, key, items[1:])
        if vk_item is None:
            plan.creates.append(Create(d))
            if d.album_key:
                plan.album_adds.append(AlbumAdd(key, None, d.album_key))
            continue

        restore = vk_item.restorable
        adopted = link is None or link.vk_item_id != vk_item.item_id
        if vk_item.reject_reason and not restore and link is not None and link.content_hash == d.hash and not adopted:
            # VK's moderators said no to exactly this content: rewriting it every run only fights them. It is
            # sent again when the product changes, or when the merchant asks (content_hash cleared).
            plan.rejected.append(Rejected(key, vk_item.item_id, vk_item.title, vk_item.reject_reason))
            plan.published += 1
            plan.unchanged += 1
            continue
        if adopted:
            plan.adoptions.append(Adopt(key, d.sku, vk_item.item_id))
        if not restore:
            plan.published += 1
        pushed = (link.pushed or {}) if (link and not adopted and not restore) else {}
        changed = {name: value for name, value in d.fields.items() if pushed.get(name) != value}
        changed.update(_drift(d, vk_item, pushed, skus_returned))
        reasons: list[str] = []
        if vk_item.reject_reason and not restore:  # changed since VK rejected it, or asked again: resubmit all
            changed = dict(d.fields)
            reasons.append("moderation")
        for name in vk_owned_fields:  # the item exists: VK decides these now
            changed.pop(name, None)
        if restore:
            reasons.append("restore")
        if pushed:
            reasons.extend(sorted(changed))
        else:
            reasons.append(N_("adopted an item EvoSync had created") if adopted else N_("first sync of this item"))
        # A photo id serves one item: a new image (or none recorded) means a new upload. It counts as done once
        # the saved photo is the item's main photo (as we pushed it, or as VK shows it).
        new_photo = not (
            link
            and link.vk_photo_id
            and link.photo_hash == d.photo_key
            and link.vk_photo_id in (pushed.get("main_photo_id"), vk_item.main_photo_id)
        ) and not ("photos" in settings.vk_owned and vk_item.main_photo_id)
        if new_photo:
            reasons.append("photo")
        if "variant_ids" in changed and vk_item.grouping_id is not None:
            options_change.add(key)
        if changed or new_photo or restore:
            plan.updates.append(
                Update(d, vk_item.item_id, changed, new_photo, tuple(dict.fromkeys(reasons)), restore=restore)
            )
        else:
            plan.unchanged += 1

        # album membership: only our albums are ours to change, and only while Evotor decides them
        if "album" in settings.vk_owned:
            continue
        current = {aid for aid in vk_item.album_ids if aid in our_album_ids}
        target = album_id_by_key.get(d.album_key) if d.album_key else None
        for aid in sorted(current - {target} - deleting_album_ids):
            plan.album_removes.append(AlbumRemove(key, vk_item.item_id, aid))
        if d.album_key and (target is None or target not in vk_item.album_ids):
            plan.album_adds.append(AlbumAdd(key, vk_item.item_id, d.album_key))

    # ---- items we no longer want
    for key in sorted(set(links) | set(owned)):
        if key in desired:
            continue
        link = links.get(key)
        live = [item for item in owned.get(key, ()) if not item.restorable]
        if not live:  # nothing of it left in VK (or only what we removed ourselves)
            if link is not None and link.status != "removed":
                plan.forgets.append(Forget(key))
            continue
        plan.published += 1
        # The link's status speaks of the link's item only: for another item of ours (a copy whose twin vanished)
        # it tells nothing, as if there were no link.
        status = link.status if link is not None and link.vk_item_id in (None, live[0].item_id) else None
        _plan_removal(plan, settings, key, live[0], not_published.get(key, N_("deleted in Evotor")), status)
        _remove_duplicates(plan, key, live[1:])
    if data.variants_on:
        _plan_groupings(plan, data, tree, owned, kept, options_change)
    return plan


# ----------------------------------------------------------------------------------------------- VK cards

PROPERTY_TITLE_MAX = 60  # VK's limit on property and variant titles is not documented (1423 "too long")


@dataclass(frozen=True, slots=True)
class _CardShape:
    key: AlbumKey
    title: str
    attribute_ids: frozenset  # the Evotor attributes that are picker options (left out of the item titles)
    options: dict  # product key -> ((property title, value), ...)


def _attribute_values(group: Group, product: Product) -> dict[str, tuple[str, str]]:
    """attribute id -> (attribute name, chosen value) for the product's choices in its modification group."""
    out = {}
    choices = product.attributes_choices or {}
    for attribute in group.attributes or ():
        if not isinstance(attribute, dict) or not attribute.get("id"):
            continue
        chosen = choices.get(attribute["id"])
        for choice in attribute.get("choices") or ():
            if isinstance(choice, dict) and choice.get("id") == chosen and mapping.tidy_line(choice.get("name")):
                name = mapping.tidy_line(attribute.get("name")) or "?"
                value = mapping.tidy_line(choice["name"])
                out[attribute["id"]] = (name[:PROPERTY_TITLE_MAX], value[:PROPERTY_TITLE_MAX])
    return out


def card_shape(group: Group, products: list[Product]) -> _CardShape | None:
    """How a modification group's publishable variants make one VK card, or None when they cannot.

    VK takes at most 2 properties per item: the two attributes whose values vary most among the variants become
    the picker (ties: Evotor's order); an attribute that does not vary is no choice, and every attribute left out
    goes into the item titles. A variant without a value for an option, or repeating another's options, is
    published as an item of its own (VK refuses equal options with 1426). Fewer than 2 variants: no card (1425).
    """
    values = {p.key: _attribute_values(group, p) for p in sorted(products, key=lambda p: p.id)}
    order = [a["id"] for a in group.attributes or () if isinstance(a, dict) and a.get("id")]
    spread = {aid: len({v[aid][1] for v in values.values() if aid in v}) for aid in order}
    ranked = sorted((aid for aid in order if spread[aid] >= 2), key=lambda aid: (-spread[aid], order.index(aid)))
    name_of = {aid: v[aid][0] for v in values.values() for aid in v}
    chosen: list[str] = []
    for aid in ranked:  # two attributes of one name would be one VK property: the first one only
        if len(chosen) < 2 and name_of[aid] not in {name_of[c] for c in chosen}:
            chosen.append(aid)
    if not chosen:
        return None
    options: dict[Key, tuple] = {}
    seen: set[tuple] = set()
    for key, v in values.items():
        if any(aid not in v for aid in chosen):
            continue
        combo = tuple(v[aid] for aid in chosen)
        if combo in seen:
            continue
        seen.add(combo)
        options[key] = combo
    if len(options) < 2:
        return None
    return _CardShape((group.store_id, group.id), group.name, frozenset(chosen), options)


def _shape_cards(
    plan: Plan, data: PlanInput, tree: _Tree, desired: dict[Key, Desired], publishable: dict[Key, Product]
) -> None:
    """Turn each modification group's publishable variants into one card: their Desired items get the card's
    title and options, and the properties and variants VK lacks are planned."""
    by_group: dict[AlbumKey, list[Product]] = defaultdict(list)
    for product in publishable.values():
        group = tree.get(product.store_id, product.parent_id)
        if group is not None and group.attributes:
            by_group[(group.store_id, group.id)].append(product)
    known: dict[str, VkProperty] = {}  # by title; of two of one title (made by hand), the older one
    for prop in sorted(data.vk_properties, key=lambda prop: prop.property_id):
        known.setdefault(html.unescape(prop.title), prop)
    for title, prop in known.items():
        plan.known_properties[title] = int(prop.property_id)
        for value, variant_id in sorted((prop.variants or {}).items(), key=lambda pair: pair[1]):
            plan.known_variants.setdefault((title, html.unescape(value)), int(variant_id))
    shapes = [card_shape(tree.get(*card_key), by_group[card_key]) for card_key in sorted(by_group)]
    if data.settings.group_by_name:
        shapes += _shapes_by_name(tree, publishable)
    needed: dict[str, set[str]] = defaultdict(set)
    for shape in shapes:
        if shape is None:
            continue
        members = []
        for key in sorted(shape.options):
            outcome = desired_item(publishable[key], data.settings, tree, data.default_photo_key, shape)
            if isinstance(outcome, Desired):
                desired[key] = outcome
                members.append(key)
                for prop_title, value in shape.options[key]:
                    needed[prop_title].add(value)
        names = tuple(dict.fromkeys(name for combo in shape.options.values() for name, _value in combo))
        plan.cards.append(Card(shape.key, mapping.item_name(shape.title), names, tuple(members)))
    for prop_title in sorted(needed):
        if prop_title not in known:
            plan.property_creates.append(PropertyCreate(prop_title))
        for value in sorted(needed[prop_title]):
            if (prop_title, value) not in plan.known_variants:
                plan.variant_creates.append(PropertyVariantCreate(prop_title, value))


NAME_PATTERN = re.compile(r"^(?P<base>.*\S)\s*\((?P<value>[^()]*[^()\s][^()]*)\)\s*$")
BY_NAME_PROPERTY = "Вариант"  # the picker's title on VK's storefront (buyers read Russian)
BY_NAME_ATTRIBUTE = "by-name"


def _shapes_by_name(tree: _Tree, publishable: dict[Key, Product]) -> list[_CardShape | None]:
    """Flat products named "Base (Flavour)" in one Evotor group (not a modification group) -> one card per base.

    The base (case and spaces aside) and the group must be equal; the value in the last parentheses is the
    picker's option "Вариант". A base with one product is no card. Only when the merchant asks (settings).
    """
    by_base: dict[tuple, list[Product]] = defaultdict(list)
    values: dict[Key, str] = {}
    for key, product in publishable.items():
        group = tree.get(product.store_id, product.parent_id)
        if group is not None and group.attributes:
            continue  # variants of a modification group are carded by their attributes
        match = NAME_PATTERN.match(mapping.tidy_line(product.name))
        if match is None:
            continue
        base = match.group("base").strip(" -–—,")
        if len(base) < 2:
            continue
        values[key] = match.group("value").strip()
        by_base[(product.store_id, product.parent_id or "", base.casefold())].append(product)
    shapes: list[_CardShape | None] = []
    for (store_id, parent_id, folded), products in sorted(by_base.items()):
        if len(products) < 2:
            continue
        base = NAME_PATTERN.match(mapping.tidy_line(products[0].name)).group("base").strip(" -–—,")
        choices = [{"id": v, "name": v} for v in dict.fromkeys(values[p.key] for p in products)]
        virtual = Group(
            store_id,
            f"{BY_NAME_ATTRIBUTE}:{parent_id}:{folded}",
            base,
            attributes=[{"id": BY_NAME_ATTRIBUTE, "name": BY_NAME_PROPERTY, "choices": choices}],
        )
        shaped = [Product(**{**_fields(p), "attributes_choices": {BY_NAME_ATTRIBUTE: values[p.key]}}) for p in products]
        shapes.append(card_shape(virtual, shaped))
    return shapes


def _fields(product: Product) -> dict:
    return {name: getattr(product, name) for name in Product.__slots__}


def _plan_groupings(
    plan: Plan,
    data: PlanInput,
    tree: _Tree,
    owned: dict[Key, list[VkItem]],
    kept: dict[Key, VkItem | None],
    options_change: set[Key],
) -> None:
    """Keep each card's VK grouping equal to its members; ungroup what must not be a card.

    The cards VK holds for a card of the plan are the groupings of the items its products own (all products of a
    modification group; the members of a card made by name). One card holding exactly the members (or some of
    them, the rest new) is extended; anything else - two cards for one group (a lost answer), an item in it that
    is no member, options that change - is ungrouped first and grouped anew, so VK never sees an edit or a
    removal that breaks a card, and one group never shows as two cards. A grouping of our items that no card
    explains (the merchant switched grouping by name off, a group's variants all gone) is ungrouped.
    """
    deleting = {r.vk_item_id for r in plan.removals if r.mode == "delete"}
    cards = {c.card: c for c in plan.cards}
    grouped_by_id: dict[int, set[int]] = defaultdict(set)
    for item in data.vk_items:
        if item.grouping_id is not None and not item.restorable and item.item_id not in deleting:
            grouped_by_id[item.grouping_id].add(item.item_id)
    card_of: dict[Key, AlbumKey] = {}
    for product in data.products:
        group = tree.get(product.store_id, product.parent_id)
        if group is not None and group.attributes:
            card_of[product.key] = (group.store_id, group.id)
    for card in plan.cards:
        for key in card.members:
            card_of[key] = card.card
    groupings_of: dict[AlbumKey, set[int]] = defaultdict(set)
    explained: set[int] = set()
    for key, items in owned.items():
        for item in items:
            if item.grouping_id is None or item.grouping_id not in grouped_by_id:
                continue
            if key in card_of:
                groupings_of[card_of[key]].add(item.grouping_id)
                explained.add(item.grouping_id)
    orphans = {
        item.grouping_id
        for items in owned.values()
        for item in items
        if item.grouping_id in grouped_by_id and item.grouping_id not in explained
    }
    for gid in sorted(orphans):
        plan.ungroupings.append(Ungroup(("", ""), "", gid, N_("no longer a card")))
    for card_key in sorted(set(groupings_of) | set(cards)):
        card = cards.get(card_key)
        current = sorted(groupings_of.get(card_key, ()))
        group = tree.get(*card_key)
        title = card.title if card else mapping.item_name(group.name if group else "")
        if card is None:
            for gid in current:
                plan.ungroupings.append(Ungroup(card_key, title, gid, N_("fewer than two variants to offer")))
            continue
        existing = {kept[k].item_id for k in card.members if kept.get(k) is not None}
        new_members = any(kept.get(k) is None for k in card.members)
        reshape = any(k in options_change for k in card.members)
        if not current:
            plan.groupings.append(GroupItems(card_key, card.title, card.members))
        elif len(current) == 1 and not reshape and grouped_by_id[current[0]] <= existing:
            if grouped_by_id[current[0]] != existing or new_members:
                plan.groupings.append(GroupItems(card_key, card.title, card.members, current[0]))
        else:
            reason = N_("the options of its variants change") if reshape else N_("the card is made anew")
            for gid in current:
                plan.ungroupings.append(Ungroup(card_key, card.title, gid, reason))
            plan.groupings.append(GroupItems(card_key, card.title, card.members))
    once: set[int] = set()  # a VK card claimed by two of ours (never made so, but read so) is ungrouped once
    plan.ungroupings = [u for u in plan.ungroupings if not (u.item_group_id in once or once.add(u.item_group_id))]


class _Ownership:
    """Which VK items belong to which product: each item to at most one, the best candidate first.

    - An item carrying a sku belongs to the product with that sku, or to nobody (another product's sku
      outranks any link of ours that points at it; a sku we do not know is not ours to touch).
    - An item without a sku (VK may leave it out of its answers) belongs to the product whose link holds its
      id, or whose saved photo is its main photo, confirmed by our title or photo: ids are reused when the
      sandbox restarts, and a photo id can only ever serve one item.
    - Dead items (too late to restore) belong to nobody.
    Order of a product's items: live before removed-but-restorable, then the linked one, then available,
    hidden (2), hidden (1), then the oldest id.
    """

    def __init__(self, items: Iterable[VkItem], links: dict[Key, Link], key_by_sku: dict[str, Key], desired):
        self.links = links
        self.desired = desired
        self.photo_owner: dict[int, Key] = {}
        self.keys_by_item: dict[int, list[Key]] = defaultdict(list)
        for key in sorted(links):
            link = links[key]
            if link.vk_item_id:
                self.keys_by_item[link.vk_item_id].append(key)
            for photo_id in self._photos(link):
                self.photo_owner.setdefault(photo_id, key)
        by_key: dict[Key, list[VkItem]] = defaultdict(list)
        for item in items:
            if item.dead:
                continue
            key = self._owner(item, key_by_sku)
            if key is not None:
                by_key[key].append(item)
        rank = {AVAILABLE: 0, UNAVAILABLE: 1, REMOVED: 2}
        for key, owned in by_key.items():
            link = links.get(key)
            linked = link.vk_item_id if link else None
            owned.sort(key=lambda i: (i.restorable, i.item_id != linked, rank.get(i.availability, 3), i.item_id))
        self.items_by_key = dict(by_key)

    @staticmethod
    def _photos(link: Link) -> set[int]:
        photos = {link.vk_photo_id, (link.pushed or {}).get("main_photo_id")}
        return {int(p) for p in photos if p}

    def _titles(self, key: Key) -> set[str]:
        titles = set()
        if key in self.desired:
            titles.add(self.desired[key].title)
        pushed = self.links[key].pushed if key in self.links else None
        if pushed and pushed.get("name"):
            titles.add(pushed["name"])
        return titles

    def _owner(self, item: VkItem, key_by_sku: dict[str, Key]) -> Key | None:
        if item.sku:
            return key_by_sku.get(item.sku) if mapping.is_our_sku(item.sku) else None
        title = html.unescape(item.title or "")
        claims: list[tuple[int, Key]] = []
        for key in self.keys_by_item.get(item.item_id, ()):
            photo_ok = bool(item.main_photo_id) and item.main_photo_id in self._photos(self.links[key])
            title_ok = title in self._titles(key)
            if photo_ok or title_ok:
                claims.append((1 + photo_ok + title_ok, key))
        photo_key = self.photo_owner.get(item.main_photo_id) if item.main_photo_id else None
        if photo_key is not None and title in self._titles(photo_key):
            claims.append((2, photo_key))
        if not claims:
            return None
        best = max(score for score, _ in claims)
        return min(key for score, key in claims if score == best)


def _remove_duplicates(plan: Plan, key: Key, extras: Iterable[VkItem]) -> None:
    """Copies beyond a product's one item are deleted, whatever the removal setting (we made them)."""
    for extra in extras:
        if not extra.restorable:  # one we removed already stays removed
            plan.removals.append(
                Remove(key, extra.item_id, extra.title, "delete", N_("duplicate copy"), duplicate=True)
            )


def _plan_albums(
    plan: Plan, data: PlanInput, tree: _Tree, desired: dict[Key, Desired]
) -> tuple[dict[AlbumKey, int], set[int], set[int]]:
    """Album creates, adoptions, renames and deletes; returns (VK album id by key, our album ids, deleting ids).

    One VK album serves one Evotor group: when two links claim the same album (ids reused after a sandbox
    restart), the one whose title it has keeps it and the other is treated as having no album yet.
    """
    album_links = {al.key: al for al in data.album_links}
    vk_albums = {a.album_id: a for a in data.vk_albums}
    needed_albums: dict[AlbumKey, str] = {}
    for d in desired.values():
        if d.album_key and d.album_key not in needed_albums:
            group = tree.get(*d.album_key)
            needed_albums[d.album_key] = mapping.album_title(group.name if group else "")
    claims: dict[int, list[AlbumKey]] = defaultdict(list)
    for album_key in sorted(album_links):
        link = album_links[album_key]
        if link.vk_album_id and link.vk_album_id in vk_albums:
            claims[link.vk_album_id].append(album_key)
    holder: dict[int, AlbumKey] = {}
    for album_id, keys in claims.items():
        title = vk_albums[album_id].title
        fitting = [k for k in keys if needed_albums.get(k) == title] or [k for k in keys if k in needed_albums]
        holder[album_id] = (fitting or keys)[0]

    def held(album_key: AlbumKey) -> int | None:
        link = album_links.get(album_key)
        if link and link.vk_album_id and holder.get(link.vk_album_id) == album_key:
            return link.vk_album_id
        return None

    album_id_by_key: dict[AlbumKey, int] = {}
    free_albums_by_title: dict[str, list[int]] = defaultdict(list)
    for album in sorted(vk_albums.values(), key=lambda a: a.album_id):
        if album.album_id not in holder:
            free_albums_by_title[album.title].append(album.album_id)
    for album_key, title in needed_albums.items():
        album_id = held(album_key)
        if album_id:
            album_id_by_key[album_key] = album_id
            if vk_albums[album_id].title != title:
                plan.album_renames.append(AlbumRename(album_key, album_id, title))
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
        album_id = held(album_key)
        if album_id:
            deleting_album_ids.add(album_id)
        plan.album_deletes.append(AlbumDelete(album_key, album_id, link.title))
    our_album_ids = set(album_id_by_key.values()) | set(holder)
    return album_id_by_key, our_album_ids, deleting_album_ids


def _plan_removal(plan: Plan, settings: Settings, key: Key, item: VkItem, reason: str, status: str | None) -> None:
    if settings.removal == "leave":
        return
    if settings.removal == "unavailable":
        # No link (status None): apply has nothing to record, so an item already hidden stays as it is;
        # hiding it again would repeat on every run. Hidden may read as availability 1 or 2 (a reading).
        if item.availability != AVAILABLE and status in ("unavailable", None):
            return
        plan.removals.append(Remove(key, item.item_id, item.title, "hide", reason))
        return
    plan.removals.append(Remove(key, item.item_id, item.title, "delete", reason))
