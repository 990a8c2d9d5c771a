"""Switches for the Evotor and VK behaviours that the public sources leave open ("readings").

Nobody here can try the real VK or Evotor, so where the references allow two readings the emulators
implement both, and the tests that talk to them run under each one (tests/readings.py). The default of
every switch is the emulators' first-release behaviour. docs/VK_READINGS.md lists each switch with
its source and what EvoSync does under each value.

A set of readings is written as ``name=value`` pairs, e.g. ``hidden_availability=1,deleted_returned=1``:
``python -m evosync.sandbox --readings ...`` and ``SANDBOX_READINGS`` (make run) take that form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    """One open behaviour: its switch name, the values it can take (default first) and where it comes from."""

    name: str
    values: tuple
    question: str
    source: str


READINGS: tuple[Reading, ...] = (
    Reading(
        "hidden_availability",
        (2, 1),
        "An item saved with market.add/edit deleted=1 comes back with availability 2 (unavailable) or 1 (removed)",
        "VK API schema: market.add `deleted` is 'Item status (1 — deleted)'; market item `availability` is "
        "0 available, 1 removed, 2 unavailable (VKCOM/vk-api-schema market/methods.json, objects.json)",
    ),
    Reading(
        "hidden_needs_with_disabled",
        (False, True),
        "market.get returns such hidden items only when asked with with_disabled=1, or always",
        "VK API schema: market.get `with_disabled` 'Add disabled items to response' (market/methods.json)",
    ),
    Reading(
        "deleted_returned",
        (False, True),
        "An item removed with market.delete vanishes from market.get at once, or is returned with "
        "availability 1 until restored or too late to restore (market.restore then answers 1400)",
        "VK API schema: market.restore 'Restores recently deleted item', error 1400 'Too late for restore' "
        "(market/methods.json, errors.json); availability 1 'removed' (objects.json)",
    ),
    Reading(
        "photo_saves_in_execute",
        (True, False),
        "market.saveProductPhoto inside execute is accepted, or refused (it must be a request of its own)",
        "dev.vk.com/ru/method/execute lists no exceptions; no public client was found saving photos in "
        "execute, and vk-io keeps upload 'save' methods out of its execute batching",
    ),
    # Bulk photos (issue 24; docs/VK_READINGS.md rows 12-15)
    Reading(
        "photo_bulk",
        ("supported", "unknown_method"),
        "market.saveProductPhotoBulk exists for this token and community, or VK answers error 3 (unknown method)",
        "VK API schema: market.saveProductPhotoBulk and the `bulk` flag of market.getProductPhotoUploadServer "
        "(VKCOM/vk-api-schema market/methods.json); dev.vk.com has no page for the bulk flow",
    ),
    Reading(
        "photo_bulk_max_files",
        (5, 2),
        "A bulk upload takes up to 5 files (as the album upload of photos.getUploadServer does), or fewer: more "
        "are refused by the upload server",
        "VK API schema: nothing on the number of files; dev.vk.com's upload page documents file1..file5 for "
        "album photos only",
    ),
    Reading(
        "photo_bulk_in_execute",
        (True, False),
        "market.saveProductPhotoBulk inside execute is accepted, or refused (it must be a request of its own)",
        "dev.vk.com/ru/method/execute lists no exceptions; no public client was found saving photos in execute",
    ),
    Reading(
        "upload_url_reuse",
        (True, False),
        "An upload address from getProductPhotoUploadServer takes any number of uploads, or only one (a second "
        "upload answers ERR_UPLOAD_BAD_URL)",
        "VK API schema and dev.vk.com say nothing about reuse; public clients ask for a new address per upload",
    ),
    Reading(
        "get_returns_sku",
        (True, False),
        "market.get items carry the `sku` we sent, or come without it",
        "VK API schema: `sku` is an optional field of the market item object (market/objects.json); "
        "dev.vk.com's market.get page does not promise it",
    ),
    Reading(
        "properties_when_off",
        ("error", "empty"),
        "market.getProperties answers 1409/1410 while the community's extended products mode is off, or answers "
        "an empty list (only the writes refuse)",
        "VK API schema: market.getProperties lists errors 1409 'Extended market not enabled' and 1410 'Variants "
        "not enabled' (market/methods.json, errors.json); no page says whether a read is refused too",
    ),
    Reading(
        "group_items_with_id",
        ("adds", "replaces"),
        "market.groupItems with an existing item_group_id adds the items to that card, or makes the card of "
        "exactly the items sent",
        "VK API schema: market.groupItems has item_ids (required) and item_group_id (optional), no description "
        "of either (market/methods.json)",
    ),
    Reading(
        "grouped_need_variants",
        (False, True),
        "market.get returns every item of a grouped card, or only each card's main variant unless asked with "
        "need_variants=1",
        "VK API schema: market.get `need_variants` (no description); the item object carries "
        "`variants_grouping_id` and `is_main_variant` (market/methods.json, objects.json)",
    ),
    Reading(
        "evotor_auth_header",
        ("both", "x-authorization", "bearer"),
        "Evotor's REST API takes the token as `X-Authorization: <token>` only, `Authorization: Bearer <token>` "
        "only, or either",
        "Evotor's cloud SDK (github.com/evotor/evotor-cloud-java-sdk) sends `X-Authorization: <token>`; "
        "the current REST overview on developer.evotor.ru speaks of `Authorization: Bearer <token>`",
    ),
    Reading(
        "evotor_retry_after",
        ("seconds", "absent"),
        "Above its request rate Evotor answers 429 with `Retry-After: <seconds>` (how long until a request is "
        "taken again), or with no Retry-After at all (then its documented 'resume after 30 minutes' holds)",
        "developer.evotor.ru (rest_overview / doc_errors_returned.md): 429 Too Many Requests, 'resume after "
        "30 minutes'; no rate and no Retry-After documented",
    ),
    # VK orders (issue 23; docs/VK_READINGS.md rows 7-8)
    Reading(
        "order_callbacks",
        ("once", "repeated_out_of_order"),
        "VK's Callback API delivers each market_order_new/edit event once and in order, or may repeat events and "
        "deliver an older one after a newer one",
        "VK API schema callback/objects.json: `event_id` 'Unique event id. If it passed twice or more - you should "
        "ignore it' (so repeats happen); nothing promises the order of deliveries",
    ),
    Reading(
        "vk_decrements_stock",
        (False, True),
        "Placing an order lowers the item's stock_amount in VK itself (and a cancellation raises it), or VK leaves "
        "stock_amount alone",
        "VK API schema: market.add/edit `stock_amount` exists; no source says whether orders change it",
    ),
)

_BY_NAME = {r.name: r for r in READINGS}
VK_SWITCHES = (
    "hidden_availability",
    "hidden_needs_with_disabled",
    "deleted_returned",
    "photo_saves_in_execute",
    "photo_bulk",
    "photo_bulk_max_files",
    "photo_bulk_in_execute",
    "upload_url_reuse",
    "get_returns_sku",
    "properties_when_off",
    "group_items_with_id",
    "grouped_need_variants",
    "order_callbacks",
    "vk_decrements_stock",
)


@dataclass
class Readings:
    """The current value of every switch (defaults: the first-release behaviour)."""

    hidden_availability: int = 2
    hidden_needs_with_disabled: bool = False
    deleted_returned: bool = False
    photo_saves_in_execute: bool = True
    photo_bulk: str = "supported"
    photo_bulk_max_files: int = 5
    photo_bulk_in_execute: bool = True
    upload_url_reuse: bool = True
    get_returns_sku: bool = True
    properties_when_off: str = "error"
    group_items_with_id: str = "adds"
    grouped_need_variants: bool = False
    evotor_auth_header: str = "both"
    evotor_retry_after: str = "seconds"
    order_callbacks: str = "once"
    vk_decrements_stock: bool = False

    def changed(self) -> dict:
        """The switches set away from their default."""
        default = Readings()
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }

    def label(self) -> str:
        changed = self.changed()
        return ",".join(f"{k}={_text(v)}" for k, v in changed.items()) or "default"


def _text(value) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def _parse_value(reading: Reading, raw: str):
    raw = raw.strip().lower()
    for value in reading.values:
        if raw == _text(value).lower() or (isinstance(value, bool) and raw == str(value).lower()):
            return value
    allowed = ", ".join(_text(v) for v in reading.values)
    raise ValueError(f"reading {reading.name!r}: {raw!r} is not one of {allowed}")


def parse(text: str | None) -> Readings:
    """``name=value,name=value`` -> Readings; unknown names or values raise ValueError naming them."""
    values = {}
    for part in (text or "").replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        reading = _BY_NAME.get(name.strip())
        if reading is None or not sep:
            known = ", ".join(_BY_NAME)
            raise ValueError(f"unknown reading {part.strip()!r}; known: {known}")
        values[reading.name] = _parse_value(reading, raw)
    return Readings(**values)
