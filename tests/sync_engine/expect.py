"""What VK should hold for a shop, computed independently of the engine's bookkeeping, and a checker."""

from __future__ import annotations

from decimal import Decimal

from evosync.models import CachedGroup, CachedProduct, VkConnection
from evosync.services.evotor_catalog.scope import publishable_scope
from evosync.services.sync import plan as p
from evosync.services.sync.settings import settings_for


def expected_items(user_id: int) -> dict[str, dict]:
    """sku -> {title, price_kopecks, unavailable, album_title} for every product that should be live in VK."""
    settings = settings_for(user_id)
    scope = publishable_scope(user_id)
    groups = [
        p.Group(g.store_evotor_id, g.evotor_id, g.name, g.parent_id, g.attributes)
        for g in CachedGroup.query.filter_by(user_id=user_id)
    ]
    tree = p._Tree(groups)
    out = {}
    products = []
    for row in CachedProduct.query.filter_by(user_id=user_id):
        if row.store_evotor_id not in scope.store_ids:
            continue
        if row.parent_id and row.parent_id not in scope.groups_by_store.get(row.store_evotor_id, ()):
            continue
        product = p.Product(
            row.store_evotor_id,
            row.evotor_id,
            row.name,
            row.price,
            row.quantity,
            row.allow_to_sell,
            row.description,
            row.article_number,
            row.code,
            row.measure_name,
            row.parent_id,
            row.type,
            row.attributes_choices,
            None,
        )
        products.append(product)
    shapes = expected_cards(user_id, tree, products, settings)
    shape_of = {key: shape for shape in shapes for key in shape.options}
    for product in products:
        desired = p.desired_item(product, settings, tree, "default", shape_of.get(product.key))
        if isinstance(desired, str):
            continue
        album = tree.get(*desired.album_key) if desired.album_key else None
        out[desired.sku] = {
            "title": desired.fields["name"],
            "price": str(int(Decimal(desired.fields["price"]) * 100)),
            "unavailable": bool(desired.fields["deleted"]),
            "album": album.name if album else None,
            "options": [tuple(pair) for pair in desired.fields.get("variant_ids") or ()],
            "card": shape_of[product.key].key if product.key in shape_of else None,
        }
    return out


def expected_cards(user_id: int, tree, products, settings) -> list:
    """The VK cards the merchant's modification groups should be (none while the community's mode is not on)."""
    conn = VkConnection.query.filter_by(user_id=user_id).one_or_none()
    if conn is None or conn.variants_mode != "on":
        return []
    by_group = {}
    for product in products:
        group = tree.get(product.store_id, product.parent_id)
        if group is None or not group.attributes:
            continue
        if isinstance(p.desired_item(product, settings, tree, "default"), str):
            continue
        by_group.setdefault((group.store_id, group.id), []).append(product)
    shapes = [p.card_shape(tree.get(*key), members) for key, members in sorted(by_group.items())]
    if settings.group_by_name:
        publishable = {x.key: x for x in products if not isinstance(p.desired_item(x, settings, tree, "d"), str)}
        shapes += p._shapes_by_name(tree, publishable)
    return [shape for shape in shapes if shape is not None]


def card_mismatches(sandbox, want: dict[str, dict], group_id: int) -> list[str]:
    """Every way VK's cards differ from the expected ones: a card split in two, a member outside its card, a
    stranger inside, wrong options; and a grouping VK holds that should not be."""
    problems = []
    items = {i["id"]: i for i in sandbox.vk.items(group_id) if not i["deleted"]}
    titles = {
        vid: (prop["title"], v["title"])
        for prop in sandbox.vk.properties(group_id)
        for v in prop["variants"]
        for vid in [v["id"]]
    }
    by_card: dict = {}
    for item in items.values():
        expected = want.get(item["sku"])
        if expected and expected["card"]:
            by_card.setdefault(expected["card"], []).append(item)
            options = sorted(titles.get(v, ("?", "?")) for v in item["variant_ids"])
            if options != sorted(expected["options"]):
                problems.append(f"options {item['sku']}: {options} != {sorted(expected['options'])}")
    expected_groupings = set()
    for card, members in by_card.items():
        groupings = {m["grouping_id"] for m in members}
        if len(groupings) != 1 or None in groupings:
            problems.append(f"card {card[1]} is not one VK card: {sorted(map(str, groupings))}")
            continue
        grouping = groupings.pop()
        expected_groupings.add(grouping)
        inside = set(sandbox.vk.groupings(group_id).get(grouping, ()))
        if inside != {m["id"] for m in members}:
            problems.append(f"card {card[1]} holds {sorted(inside)} != {sorted(m['id'] for m in members)}")
    for grouping in set(sandbox.vk.groupings(group_id)) - expected_groupings:
        problems.append(f"unexpected VK card {grouping}")
    return problems


def vk_state(sandbox, group_id: int) -> tuple[dict[str, list[dict]], dict[int, str]]:
    """Live items by sku (a list, to see duplicates) and album titles by id."""
    by_sku: dict[str, list[dict]] = {}
    for item in sandbox.vk.items(group_id):
        if item["deleted"]:
            continue
        by_sku.setdefault(item["sku"], []).append(item)
    albums = {a["id"]: a["title"] for a in sandbox.vk.albums(group_id)}
    return by_sku, albums


def mismatches(sandbox, user_id: int, group_id: int) -> list[str]:
    """Every way VK differs from the expected state: duplicates, missing, extra, wrong fields or album."""
    want = expected_items(user_id)
    have, albums = vk_state(sandbox, group_id)
    problems = []
    for sku, items in have.items():
        if len(items) > 1:
            problems.append(f"duplicate {sku} x{len(items)}")
        if sku not in want:
            problems.append(f"extra {sku} {items[0]['title']!r}")
    for sku, expected in want.items():
        items = have.get(sku)
        if not items:
            problems.append(f"missing {sku} {expected['title']!r}")
            continue
        item = items[0]
        if item["title"] != expected["title"]:
            problems.append(f"title {sku}: {item['title']!r} != {expected['title']!r}")
        if item["price"] != expected["price"]:
            problems.append(f"price {sku}: {item['price']} != {expected['price']}")
        if bool(item["unavailable"]) != expected["unavailable"]:
            problems.append(f"availability {sku}")
        in_albums = sorted(albums.get(a, "?") for a in item["albums_ids"])
        wanted_albums = [expected["album"]] if expected["album"] else []
        if in_albums != wanted_albums:
            problems.append(f"albums {sku}: {in_albums} != {wanted_albums}")
    return problems + card_mismatches(sandbox, want, group_id)
