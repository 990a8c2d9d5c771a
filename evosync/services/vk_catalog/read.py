"""Reading a community's VK market (albums, items, properties) in ``execute`` batches, re-read if it moved."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...clients.errors import VkApiError
from ...clients.vk import EXECUTE_MAX_CALLS, VkCall, VkClient

log = logging.getLogger(__name__)

ITEMS_PAGE = 200  # market.get's maximum count
ALBUMS_PAGE = 100  # market.getAlbums' maximum count
READ_ATTEMPTS = 3  # re-reads when the catalog changed between pages (counts disagree)
EXECUTE_TOO_BIG = 13  # VKScript runtime error, e.g. "response size is too big": send fewer pages per request


@dataclass
class VkMarketSnapshot:
    """Every album and item of one community as VK answered; ``consistent`` when all pages agreed on counts."""

    albums: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    consistent: bool = True
    calls: int = 0
    # market.getProperties: the community's properties, or None when VK did not answer them (see ``properties_error``)
    properties: list[dict] | None = None
    properties_error: int | None = None


def _albums_call(owner_id: int, offset: int) -> VkCall:
    return VkCall(
        "market.getAlbums", {"owner_id": owner_id, "offset": offset, "count": ALBUMS_PAGE}, ("albums", offset)
    )


def _items_call(owner_id: int, offset: int) -> VkCall:
    # with_disabled=1: VK leaves out items marked unavailable otherwise; the mirror must show them.
    # need_variants=1: VK may return only each card's main variant otherwise (a reading, docs/VK_READINGS.md).
    params = {
        "owner_id": owner_id,
        "offset": offset,
        "count": ITEMS_PAGE,
        "extended": 1,
        "with_disabled": 1,
        "need_variants": 1,
    }
    return VkCall("market.get", params, ("items", offset))


def _properties_call(group_id: int) -> VkCall:
    return VkCall("market.getProperties", {"group_id": abs(group_id)}, ("properties", 0))


VARIANTS_OFF_CODES = (1409, 1410)  # the community's products are not in extended mode


def _run_pages(client: VkClient, calls: Sequence[VkCall], per_request: int) -> dict[tuple[str, int], dict]:
    """Send page reads as execute batches of ``per_request``; answers by tag. Any failed call raises."""
    answers: dict[tuple[str, int], dict] = {}
    for start in range(0, len(calls), per_request):
        chunk = list(calls[start : start + per_request])
        try:
            results = client.execute_batch(chunk)
        except VkApiError as exc:
            if exc.code != EXECUTE_TOO_BIG or len(chunk) == 1:
                raise
            # The answer was too large for one execute: split the chunk and try the halves.
            log.info("vk execute too big with %d pages, splitting", len(chunk))
            answers.update(_run_pages(client, chunk, max(1, len(chunk) // 2)))
            continue
        for result in results:
            if result.call.tag[0] == "properties":  # its refusal says the mode is off; never fails the read
                answers[result.call.tag] = {"error": result.error} if not result.ok else {"value": result.value}
                continue
            if not result.ok:
                raise result.error
            value = result.value
            if not isinstance(value, dict) or not isinstance(value.get("items"), list):
                raise VkApiError(1, "page answered without an items list", result.call.method)
            answers[result.call.tag] = value
    return answers


def read_vk_market(
    client: VkClient, group_id: int, expected_items: int = 0, pages_per_request: int = EXECUTE_MAX_CALLS
) -> VkMarketSnapshot:
    """Read every album and item (unavailable ones included) of community ``group_id``.

    The first request asks for the albums and as many item pages as ``expected_items`` (the size of the
    last mirror) suggests, so an unchanged catalog needs a single request; what is left follows in
    further batches. If counts disagree between pages (the catalog changed under us), read again.
    """
    owner_id = -abs(group_id)
    per_request = max(1, min(EXECUTE_MAX_CALLS, pages_per_request))
    snapshot = VkMarketSnapshot()
    properties_answer: dict | None = None
    for attempt in range(READ_ATTEMPTS):
        first_pages = max(1, min(per_request - 1, math.ceil((expected_items + 1) / ITEMS_PAGE)))
        calls = [_albums_call(owner_id, 0)] + [_items_call(owner_id, i * ITEMS_PAGE) for i in range(first_pages)]
        # The community's properties (and so its extended mode) ride along in a batch with room: no request of
        # their own unless every batch is full (never with one page per request, a guard against answer size).
        want_properties = attempt == 0
        if want_properties and len(calls) < per_request:
            calls.append(_properties_call(group_id))
            want_properties = False
        answers = _run_pages(client, calls, per_request)
        album_total = int(answers[("albums", 0)].get("count") or 0)
        item_total = int(answers[("items", 0)].get("count") or 0)
        more = [_albums_call(owner_id, o) for o in range(ALBUMS_PAGE, album_total, ALBUMS_PAGE)]
        more += [_items_call(owner_id, o) for o in range(first_pages * ITEMS_PAGE, item_total, ITEMS_PAGE)]
        if want_properties and per_request > 1:
            more.append(_properties_call(group_id))
        if more:
            answers.update(_run_pages(client, more, per_request))
        properties_answer = answers.pop(("properties", 0), None) or properties_answer
        snapshot = VkMarketSnapshot(
            albums=_unique(answers, "albums"),
            items=_unique(answers, "items"),
            consistent=_counts_agree(answers),
            calls=snapshot.calls + len(calls) + len(more),
        )
        if snapshot.consistent:
            break
        log.info("vk market of %s changed while reading (attempt %d), reading again", group_id, attempt + 1)
        expected_items = len(snapshot.items)
    _read_properties(snapshot, properties_answer)
    return snapshot


def _read_properties(snapshot: VkMarketSnapshot, answer: dict | None) -> None:
    if answer is None:
        return
    error = answer.get("error")
    if error is not None:
        snapshot.properties_error = getattr(error, "code", 1)
        return
    value = answer.get("value")
    items = value.get("items") if isinstance(value, dict) else None
    if isinstance(items, list):
        snapshot.properties = [p for p in items if isinstance(p, dict) and "id" in p]


def _unique(answers: dict[tuple[str, int], dict], kind: str) -> list[dict]:
    """The kind's rows in page order, each id once (an item added mid-read shifts pages by one)."""
    seen: set[int] = set()
    rows = []
    for (tag_kind, _offset), page in sorted(answers.items()):
        if tag_kind != kind:
            continue
        for row in page["items"]:
            if isinstance(row, dict) and "id" in row and int(row["id"]) not in seen:
                seen.add(int(row["id"]))
                rows.append(row)
    return rows


def _counts_agree(answers: dict[tuple[str, int], dict]) -> bool:
    for kind in ("albums", "items"):
        counts = {int(page.get("count") or 0) for (k, _), page in answers.items() if k == kind}
        if len(counts) > 1:
            return False
    items = _unique(answers, "items")
    item_total = int(answers[("items", 0)].get("count") or 0)
    return len(items) >= item_total
