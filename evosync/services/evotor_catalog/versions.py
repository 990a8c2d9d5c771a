"""Version tokens of a store's mirror, renewed by every writer, so the pages' caches are never served stale.

``cached_stores.groups_version`` (the group names cache) and ``content_version`` (web/page_cache.py): Core
statements call the bump functions; ORM changes to products and sync links renew the token on flush.
"""

from __future__ import annotations

import functools
import uuid

import sqlalchemy as sa

from ...extensions import db
from ...models import CachedGroup, CachedProduct, CachedStore, SyncLink


def group_names(user_id: int, store_id: str, version: str | None = None) -> dict[str, str]:
    """{group id: name} of a store. With the store's ``groups_version`` the answer comes from this process's
    cache while the groups are unchanged (the products page asks on every view: 200 groups cost 3 ms)."""
    if version is None:
        return _read_group_names(user_id, store_id)
    return dict(_cached_group_names(user_id, store_id, version))


def bump_groups_version(user_id: int, store_id: str) -> None:
    """The store's groups changed (not committed): cached names of the old version are not used again."""
    db.session.execute(
        sa.update(CachedStore)
        .filter_by(user_id=user_id, evotor_id=store_id)
        .values(groups_version=uuid.uuid4().hex)
        .execution_options(synchronize_session=False)
    )


def bump_content_version(user_id: int, store_id: str | None = None) -> None:
    """The store's products or their VK state changed (not committed): pages cached under the old token are not
    served again (web/page_cache.py). ``store_id`` None: every store of the user.

    Core statements on products call this themselves; ORM changes to products and sync links renew it on flush
    (:func:`_renew_content_versions`), so code (and tests) that edit rows through the session need not.
    """
    db.session.execute(_new_content_version(user_id, store_id))


def _new_content_version(user_id: int, store_id: str | None) -> sa.Update:
    """UPDATE giving the user's store (every store of theirs when ``store_id`` is None) a new content token."""
    stores = CachedStore.__table__
    statement = stores.update().where(stores.c.user_id == user_id)
    if store_id is not None:
        statement = statement.where(stores.c.evotor_id == store_id)
    return statement.values(content_version=uuid.uuid4().hex)


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _renew_content_versions(session: sa.orm.Session, _flush_context) -> None:
    """Products or sync links added, changed or deleted through the ORM: renew the content token of their stores
    (a link renews all the user's stores: the VK column shows once any link exists), in the same transaction."""
    stores: set[tuple[int, str | None]] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, CachedProduct):
            stores.add((obj.user_id, obj.store_evotor_id))
        elif isinstance(obj, SyncLink):
            stores.add((obj.user_id, None))
    users_wide = {user_id for user_id, store_id in stores if store_id is None}
    connection = session.connection()
    for user_id, store_id in stores:
        if user_id is None or (store_id is not None and user_id in users_wide):
            continue
        connection.execute(_new_content_version(user_id, store_id))


def _read_group_names(user_id: int, store_id: str) -> dict[str, str]:
    return dict(
        db.session.execute(
            sa.select(CachedGroup.evotor_id, CachedGroup.name).filter_by(user_id=user_id, store_evotor_id=store_id)
        ).all()
    )


@functools.lru_cache(maxsize=256)
def _cached_group_names(user_id: int, store_id: str, version: str) -> tuple[tuple[str, str], ...]:
    return tuple(_read_group_names(user_id, store_id).items())
