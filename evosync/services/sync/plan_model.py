"""The plan's data: its inputs (plain frozen dataclasses the loader builds), its operations and the Plan, and
the Evotor group tree. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from . import mapping


def N_(text: str) -> str:
    """Marks a reason for the translation catalog; it stays English data here and pages translate it when shown."""
    return text


Key = tuple[str, str]  # (Evotor store id, Evotor product id)
AlbumKey = tuple[str, str]  # (Evotor store id, Evotor group id)


def key_text(key: Key) -> str:
    """A product's key as runs record it ("store:product"): failures, successes and lists on the run page."""
    return f"{key[0]}:{key[1]}"


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
    def memberships(self) -> list[AlbumAdd | AlbumRemove]:
        """The album writes that concern one product each."""
        return [*self.album_adds, *self.album_removes]

    @property
    def structure_writes(self) -> tuple[list, ...]:
        """The writes that are no one product's: albums themselves, properties, variants, cards."""
        return (
            self.album_creates,
            self.album_renames,
            self.album_deletes,
            self.property_creates,
            self.variant_creates,
            self.groupings,
            self.ungroupings,
        )

    @property
    def has_writes(self) -> bool:
        return bool(self.removals) or self.has_writes_besides_removals

    @property
    def has_writes_besides_removals(self) -> bool:
        return bool(
            self.creates
            or self.updates
            or self.memberships
            or any(self.structure_writes)
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
