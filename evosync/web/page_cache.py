"""Rendered pages kept in this process while what they show is unchanged (the products page of a big store).

A page is stored under a key that names everything it shows: the user and their roles (the menu), the locale,
the URL with its query (search, group, page number; the language links carry it), and version tokens of the
data, which the writers renew (``cached_stores.content_version`` and ``groups_version``: see
services/evotor_catalog.bump_content_version). A changed token is a new key, so an entry is never served after
its data changed; old entries simply age out of the LRU. Pages with flashed messages are neither served from
nor stored in the cache (a message is shown once).

Per process (each gunicorn worker warms its own): a hit costs a dict lookup instead of the queries and the
50-row template (16 ms -> 6 ms per request on the bench's 2 cores). ``PAGE_CACHE_ENTRIES=0`` switches it off.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import Flask, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

EXTENSION_KEY = "evosync_page_cache"
MAX_AGE_SECONDS = 600.0  # a bound, not the mechanism: tokens decide; this limits what an unforeseen writer costs
MAX_CHARS = 32 * 1024 * 1024


class PageCache:
    """A bounded LRU of rendered HTML (by entries and by characters), safe under threaded workers."""

    def __init__(self, max_entries: int, max_age: float = MAX_AGE_SECONDS, max_chars: int = MAX_CHARS):
        self.max_entries = max_entries
        self.max_age = max_age
        self.max_chars = max_chars
        self._entries: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or time.monotonic() - entry[0] > self.max_age:
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, html: str) -> None:
        if self.max_entries <= 0 or len(html) > self.max_chars:
            return
        with self._lock:
            if key in self._entries:
                self._drop(key)
            self._entries[key] = (time.monotonic(), html)
            self._chars += len(html)
            while len(self._entries) > self.max_entries or self._chars > self.max_chars:
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0

    def _drop(self, key: Hashable) -> None:
        _, html = self._entries.pop(key)
        self._chars -= len(html)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = PageCache(app.config.get("PAGE_CACHE_ENTRIES", 256))


def cached_page(tokens: tuple, render: Callable[[], str]) -> str:
    """The current user's page at this URL for these data ``tokens``: from the cache, else ``render()`` (stored).

    ``tokens`` must change whenever the data the page shows changes; the user, roles, locale and URL are added
    here. Nothing is cached while a flashed message waits to be shown.
    """
    cache: PageCache | None = current_app.extensions.get(EXTENSION_KEY)
    if cache is None or cache.max_entries <= 0 or session.get("_flashes"):
        return render()
    key = (
        current_user.id,
        tuple(sorted(role.name for role in current_user.roles)),
        str(get_locale()),
        request.full_path,
        tokens,
    )
    html = cache.get(key)
    if html is None:
        html = render()
        cache.put(key, html)
    return html
