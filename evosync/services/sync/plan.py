"""The sync plan: desired VK state against what we pushed and what VK holds -> operations. Pure: no I/O.

Inputs are plain frozen dataclasses (built from the database by services/sync/loader.py), the output is a
Plan of plain operations that services/sync/apply.py runs and the preview page describes (both in
plan_model.py). This module holds the rules: each product's desired item, the shapes of VK cards, build_plan;
plan_ownership.py, plan_albums.py and plan_groupings.py hold the parts build_plan delegates. Decisions:

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
from dataclasses import dataclass
from decimal import Decimal

from . import holds as stock_holds
from . import mapping
from .plan_albums import plan_albums
from .plan_groupings import plan_groupings
from .plan_model import (
    AVAILABLE,
    N_,
    Adopt,
    AlbumAdd,
    AlbumKey,
    AlbumRemove,
    Card,
    Create,
    Desired,
    Forget,
    Group,
    Key,
    Plan,
    PlanInput,
    Product,
    PropertyCreate,
    PropertyVariantCreate,
    Rejected,
    Reserved,
    Settings,
    Skip,
    Update,
    VkItem,
    VkProperty,
    _Tree,
)
from .plan_ownership import Ownership, plan_removal, remove_duplicates

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
    owned = Ownership(vk_items.values(), links, key_by_sku, desired).items_by_key
    skus_returned = any(item.sku for item in vk_items.values())
    vk_owned_fields = {f for name in settings.vk_owned for f in mapping.VK_OWNABLE_FIELDS.get(name, ())}

    album_id_by_key, our_album_ids, deleting_album_ids = plan_albums(plan, data, tree, desired)

    # ---- items we want
    kept: dict[Key, VkItem | None] = {}  # the item each wanted product keeps (None: created in this plan)
    options_change: set[Key] = set()  # grouped items whose picker options change
    for key, d in desired.items():
        link = links.get(key)
        items = owned.get(key, [])
        vk_item = items[0] if items else None
        kept[key] = vk_item
        remove_duplicates(plan, key, items[1:])
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
        plan_removal(plan, settings, key, live[0], not_published.get(key, N_("deleted in Evotor")), status)
        remove_duplicates(plan, key, live[1:])
    if data.variants_on:
        plan_groupings(plan, data, tree, owned, kept, options_change)
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
