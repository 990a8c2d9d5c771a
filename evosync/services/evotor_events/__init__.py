"""Evotor catalog-change events, from the webhook to the mirror.

An event is ``{"id", "timestamp", "type", "action", "payload"}`` with ``type`` one of ProductEvent,
ProductGroupEvent, ProductImageEvent, StoreEvent and ``action`` created, updated or removed; the payload
is the resource with its ``user_id`` (Evotor's, ``01-…``) and ``store_id``.

* ``form.py``: what an event is (its fields, types, actions; the statuses of its row).
* ``signature.py``: ``X-Hub-Signature: sha1=<hex HMAC-SHA1(raw body, secret)>``, compared in constant time, with
  the app-wide ``EVOTOR_WEBHOOK_SECRET`` or the merchant's own signing secret; and whose event it is.
* ``queue.py``: the intake records each event durably as a ``queued`` row of ``webhook_events`` (a repeated
  delivery is a ``duplicate``) and wakes the drainer; the drainer (an RQ job, swept every minute) applies queued
  events in arrival order, in batches of one transaction each, then asks for one debounced sync per merchant
  whose mirror changed (``services/sync/starts.py``).
* ``apply.py``: one event applied to the mirror; an update older than the mirror's ``updated_at`` is ignored.

The webhook itself is ``web/evotor_catalog_webhook.py``.
"""
