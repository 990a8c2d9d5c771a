"""Read the plan's inputs from the database: Evotor mirror, filters, settings, links and the VK mirror."""

from __future__ import annotations

import hashlib

from ...extensions import db
from ...models import (
    CachedGroup,
    CachedProduct,
    SyncAlbum,
    SyncLink,
    VkCachedAlbum,
    VkCachedProduct,
    VkCachedProperty,
    VkConnection,
)
from ..evotor_catalog.scope import publishable_scope
from . import plan_model as p
from .order_holds import held_units
from .settings import settings_for

_PRODUCT_COLUMNS = (
    CachedProduct.store_evotor_id,
    CachedProduct.evotor_id,
    CachedProduct.name,
    CachedProduct.price,
    CachedProduct.quantity,
    CachedProduct.allow_to_sell,
    CachedProduct.description,
    CachedProduct.article_number,
    CachedProduct.code,
    CachedProduct.measure_name,
    CachedProduct.parent_id,
    CachedProduct.type,
    CachedProduct.attributes_choices,
    CachedProduct.image_id,
    CachedProduct.image_updated_at,
    CachedProduct.image_url,
)


def image_key(image_id: str | None, updated_at: str | None) -> str | None:
    """A short fixed-length key of the Evotor image version (fits sync_links.photo_hash)."""
    if not image_id:
        return None
    return hashlib.sha1(f"{image_id}:{updated_at or ''}".encode()).hexdigest()


def load_plan_input(user_id: int, group_id: int, settings: p.Settings | None = None) -> tuple[p.PlanInput, dict]:
    """The PlanInput for one merchant and community, plus the product image URLs by key (for uploads)."""
    scope = publishable_scope(user_id)
    image_urls: dict[p.Key, str] = {}
    products = []
    rows = db.session.execute(
        db.select(*_PRODUCT_COLUMNS).where(CachedProduct.user_id == user_id).execution_options(yield_per=2000)
    )
    for row in rows:
        products.append(
            p.Product(
                store_id=row.store_evotor_id,
                id=row.evotor_id,
                name=row.name,
                price=row.price,
                quantity=row.quantity,
                allow_to_sell=row.allow_to_sell,
                description=row.description,
                article_number=row.article_number,
                code=row.code,
                measure_name=row.measure_name,
                parent_id=row.parent_id,
                type=row.type,
                attributes_choices=row.attributes_choices,
                image_key=image_key(row.image_id, row.image_updated_at),
            )
        )
        if row.image_url:
            image_urls[(row.store_evotor_id, row.evotor_id)] = row.image_url
    groups = [
        p.Group(store_id=g.store_evotor_id, id=g.evotor_id, name=g.name, parent_id=g.parent_id, attributes=g.attributes)
        for g in db.session.scalars(db.select(CachedGroup).filter_by(user_id=user_id))
    ]
    links = [
        p.Link(
            store_id=link.store_evotor_id,
            product_id=link.evotor_product_id,
            sku=link.sku,
            vk_item_id=link.vk_item_id if link.group_id in (None, group_id) else None,
            vk_photo_id=link.vk_photo_id,
            photo_hash=link.photo_hash,
            content_hash=link.content_hash,
            pushed=link.pushed,
            status=link.status,
        )
        for link in db.session.scalars(db.select(SyncLink).filter_by(user_id=user_id))
    ]
    album_links = [
        p.AlbumLink(
            store_id=a.store_evotor_id,
            group_id=a.evotor_group_id,
            vk_album_id=a.vk_album_id if a.group_id in (None, group_id) else None,
            title=a.title,
        )
        for a in db.session.scalars(db.select(SyncAlbum).filter_by(user_id=user_id))
    ]
    vk_items = [
        p.VkItem(
            item_id=int(i.vk_item_id),
            sku=i.sku,
            title=i.title,
            price=i.price,
            availability=i.availability,
            album_ids=tuple(int(a) for a in (i.album_ids or ())),
            description=i.description,
            category_id=i.category_id,
            main_photo_id=i.main_photo_id,
            removal=i.removal,
            reject_reason=i.reject_reason,
            grouping_id=int(i.grouping_id) if i.grouping_id else None,
        )
        for i in db.session.scalars(db.select(VkCachedProduct).filter_by(user_id=user_id, group_id=group_id))
    ]
    vk_albums = [
        p.VkAlbum(album_id=int(a.vk_album_id), title=a.title)
        for a in db.session.scalars(db.select(VkCachedAlbum).filter_by(user_id=user_id, group_id=group_id))
    ]
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    variants_on = conn is not None and conn.variants_mode == "on"
    vk_properties = [
        p.VkProperty(property_id=int(prop.vk_property_id), title=prop.title, variants=dict(prop.variants or {}))
        for prop in db.session.scalars(db.select(VkCachedProperty).filter_by(user_id=user_id, group_id=group_id))
    ]
    data = p.PlanInput(
        settings=settings or settings_for(user_id),
        products=products,
        groups=groups,
        scope=p.Scope(
            stores=frozenset(scope.store_ids),
            groups=frozenset((sid, gid) for sid, gids in scope.groups_by_store.items() for gid in gids),
        ),
        links=links,
        album_links=album_links,
        vk_items=vk_items,
        vk_albums=vk_albums,
        variants_on=variants_on,
        vk_properties=vk_properties,
        holds=held_units(user_id),  # units open VK orders hold (services/sync/order_holds.py)
    )
    return data, image_urls
