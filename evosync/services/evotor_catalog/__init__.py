"""The Evotor catalog mirror (stores, groups, products) and the merchant's publish toggles over it.

* ``refresh.py``: one merchant's refresh (``refresh_catalog``): connection states, pauses, the outcome.
* ``mirror.py``: the writer: stores, groups and products streamed page by page and written in bulk chunks.
* ``summary.py``: what a refresh reports.
* ``scope.py``: the publish toggles (``sync_filters``) and the scope the sync publishes.
* ``pages.py``: the reads behind the catalog pages (store overviews, product pages, search).
* ``versions.py``: the version tokens that keep the pages' caches true.
"""
