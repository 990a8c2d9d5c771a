"""Apply the VK card operations of a plan: properties and variants, grouping and ungrouping (a mixin of Applier).

Order within a pass (services/sync/apply.py): ungroup first (so no edit or removal meets a card VK would refuse:
1412/1413/1425), then properties and variants (their ids go into ``variant_ids`` of the item writes), then the
items, then the grouping. A 1409/1410 answer means the community's products are not in extended mode: the mode is
recorded, the cards' items wait, and the next pass plans today's separate items (docs/VK_READINGS.md).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ...clients.vk import VkCall, VkCallResult
from ...extensions import db
from ...models import LinkStatus, VkConnection, utcnow
from . import plan_model as p
from .apply_common import FATAL_ERRORS, TRANSIENT_ERRORS, SyncStopped

log = logging.getLogger(__name__)

VARIANTS_OFF = (1409, 1410)  # extended mode off / variants not enabled
CARD_GONE = 1411  # "variants error": what VK answers for an item_group_id it no longer has (sandbox's reading)


class CardsMixin:
    """Needs from the Applier: ``group_id``, ``user_id``, ``result``, ``_links``, ``_run``."""

    variants_refused: bool = False

    def _prepare_cards(self, plan: p.Plan) -> None:
        self._property_ids: dict[str, int] = dict(plan.known_properties)
        self._variant_ids: dict[tuple[str, str], int] = dict(plan.known_variants)

    def _refused(self, result: VkCallResult) -> bool:
        if result.error is None or result.error.code not in VARIANTS_OFF:
            return False
        if not self.variants_refused:
            log.info("vk refused variants: extended mode off", extra={"user_id": self.user_id})
            db.session.execute(
                sa.update(VkConnection)
                .where(VkConnection.user_id == self.user_id)
                .values(variants_mode="off-write", variants_mode_at=utcnow())
            )
        self.variants_refused = True
        self.result.uncertain = True
        return True

    # ------------------------------------------------------------------------------------------ ungroup

    def _ungroup(self, plan: p.Plan) -> None:
        calls = [
            VkCall("market.ungroupItems", {"group_id": abs(self.group_id), "item_group_id": op.item_group_id}, tag=op)
            for op in plan.ungroupings
        ]
        self._run(calls, self._ungrouped, own_errors=True)

    def _ungrouped(self, result: VkCallResult) -> None:
        if self._refused(result):
            return
        if result.error is None or result.error.code == CARD_GONE:
            self.result.cards_ungrouped += 1
            return
        self._card_failed(result)

    # ------------------------------------------------------------------------------------------ properties

    def _create_properties(self, plan: p.Plan) -> None:
        if self.variants_refused:
            return
        calls = [
            VkCall("market.addProperty", {"group_id": abs(self.group_id), "title": op.title}, tag=op)
            for op in plan.property_creates
        ]
        self._run(calls, self._property_created, own_errors=True)
        if self.variants_refused:
            return
        calls = []
        for op in plan.variant_creates:
            property_id = self._property_ids.get(op.property_title)
            if property_id is None:  # its property was not created this pass: the next pass adopts or retries
                self.result.uncertain = True
                continue
            params = {"group_id": abs(self.group_id), "property_id": property_id, "title": op.title}
            calls.append(VkCall("market.addPropertyVariant", params, tag=op))
        self._run(calls, self._variant_created, own_errors=True)

    def _property_created(self, result: VkCallResult) -> None:
        if self._refused(result):
            return
        if result.error is not None:
            self.result.uncertain = True  # a lost or refused answer: the next pass's read adopts it by title
            return
        self._property_ids[result.call.tag.title] = int(result.value["property_id"])
        self.result.properties_created += 1

    def _variant_created(self, result: VkCallResult) -> None:
        if self._refused(result):
            return
        if result.error is not None:
            self.result.uncertain = True
            return
        op: p.PropertyVariantCreate = result.call.tag
        self._variant_ids[(op.property_title, op.title)] = int(result.value["variant_id"])
        self.result.properties_created += 1

    def variant_ids_for(self, options: list) -> list[int] | None:
        """The VK variant ids of an item's options ([[property, value], ...]), or None when one is not known."""
        ids = [self._variant_ids.get((prop, value)) for prop, value in options]
        return None if any(i is None for i in ids) else ids

    # ------------------------------------------------------------------------------------------ group

    def _group(self, plan: p.Plan) -> None:
        if self.variants_refused:
            return
        calls = []
        for op in plan.groupings:
            item_ids = []
            for key in op.members:
                link = self._links.get(key)
                if (
                    link is not None
                    and link.vk_item_id
                    and (link.pushed or {}).get("variant_ids")
                    and link.status != LinkStatus.ERROR
                ):
                    item_ids.append(int(link.vk_item_id))
            if len(item_ids) < len(op.members) and self.result.sliced:
                continue  # members left for the next run (the slice ran out): the card is grouped whole then
            if len(item_ids) < len(op.members):
                self.result.uncertain = True  # a member's write did not go through: the next pass adds it
            if len(item_ids) < 2:
                continue  # never provoke 1425
            params = {"group_id": abs(self.group_id), "item_ids": item_ids}
            if op.item_group_id:
                params["item_group_id"] = op.item_group_id
            calls.append(VkCall("market.groupItems", params, tag=op))
        self._run(calls, self._grouped, own_errors=True)

    def _grouped(self, result: VkCallResult) -> None:
        if self._refused(result):
            return
        if result.error is None:
            self.result.cards_grouped += 1
            self.result.succeeded.add(_card_key(result.call.tag))
            return
        self._card_failed(result)

    def _card_failed(self, result: VkCallResult) -> None:
        error = result.error
        if isinstance(error, FATAL_ERRORS):
            db.session.commit()
            raise SyncStopped(error)
        if isinstance(error, TRANSIENT_ERRORS):
            self.result.uncertain = True
            return
        op = result.call.tag
        self.result.failures[_card_key(op)] = {"title": op.title, "reason": f"VK error {error.code}: {error.message}"}


def _card_key(op) -> str:
    return f"card:{op.card[0]}:{op.card[1]}"
