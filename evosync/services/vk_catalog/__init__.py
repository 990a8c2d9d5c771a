"""The VK catalog mirror: read a merchant's community market (albums and items) into vk_cached_* tables.

Reads go in ``execute`` batches (up to 25 pages per request, one request of the 3/s budget), so an
unchanged catalog of up to ~4,800 items costs one VK request per refresh. Failures stay with the
merchant they belong to: auth errors mark the connection broken, flood control pauses it, a switched
off market is recorded; ``refresh_all_vk_catalogs`` moves on to the next merchant either way.

* ``read.py``: reading the community's market in ``execute`` batches (albums, items, properties).
* ``rows.py``: VK's answers as mirror rows.
* ``store.py``: writing the rows (and what the answers tell about the community's variants mode).
* ``refresh.py``: one merchant's refresh under their lock, its outcome in words, and every merchant's.
* ``pages.py``: the reads behind the VK market pages and moderation.
"""
