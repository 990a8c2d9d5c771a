"""A plan's albums: one per Evotor group that has published products, adopted or created, renamed, deleted when
empty; and each item's membership. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict

from . import mapping
from .plan_model import (
    AlbumAdopt,
    AlbumCreate,
    AlbumDelete,
    AlbumKey,
    AlbumRename,
    Desired,
    Key,
    Plan,
    PlanInput,
    _Tree,
)


def plan_albums(
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
