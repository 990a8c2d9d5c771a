"""What VK should hold for a shop, computed independently of the engine's bookkeeping, and a checker."""

from __future__ import annotations

from decimal import Decimal

from evosync.models import CachedGroup, CachedProduct
from evosync.services.evotor_catalog import publishable_scope
from evosync.services.sync import plan as p
from evosync.services.sync.loader import settings_for


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
        desired = p.desired_item(product, settings, tree, "default")
        if isinstance(desired, str):
            continue
        album = tree.get(*desired.album_key) if desired.album_key else None
        out[desired.sku] = {
            "title": desired.fields["name"],
            "price": str(int(Decimal(desired.fields["price"]) * 100)),
            "unavailable": bool(desired.fields["deleted"]),
            "album": album.name if album else None,
        }
    return out


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
    return problems
