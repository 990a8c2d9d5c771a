"""VK's product variants in the sandbox: properties, property variants, grouping items into one card.

Follows VK's API schema (VKCOM/vk-api-schema ``market/methods.json``, ``errors.json``): ``market.addProperty``,
``addPropertyVariant``, ``getProperties``, ``groupItems`` / ``ungroupItems`` and ``variant_ids`` on add/edit (at
most 2). All of it needs the community's "extended" products mode (``set_extended_mode``); with it off VK answers
1409. The open behaviours are readings (``readings.py``): ``properties_when_off``, ``group_items_with_id`` and
``grouped_need_variants``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evosync.sandbox.vk_model import VkApiError, _invalid

NAME_MAX = 60  # property titles and variant values: VK answers 1423 / error 100 beyond (a guess: not documented)


def _error(code: int, detail: str | None = None):
    return VkApiError(code, detail)


@dataclass
class _Property:
    id: int
    group_id: int
    title: str
    variants: dict[int, str] = field(default_factory=dict)  # variant id -> title


class VariantsMixin:
    """Mixed into VkState: the state and handlers of properties, variants and item groups."""

    def _init_variants(self) -> None:
        self._properties: dict[int, _Property] = {}
        self._variant_owner: dict[int, int] = {}  # variant id -> property id
        self._next_property_id = 1
        self._next_variant_id = 101
        self._next_grouping_id = 9001

    # ------------------------------------------------------------------ test helpers
    def set_extended_mode(self, group_id: int, on: bool) -> None:
        """The community's admin switches the "extended" products mode on or off in VK's settings."""
        with self.lock:
            self._communities[group_id].extended_mode = on

    def properties(self, group_id: int) -> list[dict]:
        with self.lock:
            return [self._property_json(p) for p in self._properties.values() if p.group_id == group_id]

    def groupings(self, group_id: int) -> dict[int, list[int]]:
        """item_group_id -> ids of the live items in it (a grouped "card" on the storefront)."""
        with self.lock:
            out: dict[int, list[int]] = {}
            for item in self._items_in(group_id):
                if not item.removed and item.grouping_id is not None:
                    out.setdefault(item.grouping_id, []).append(item.id)
            return out

    # ------------------------------------------------------------------ helpers
    def _variant_handlers(self) -> dict:
        return {
            "market.getProperties": self._market_get_properties,
            "market.addProperty": self._market_add_property,
            "market.editProperty": self._market_edit_property,
            "market.deleteProperty": self._market_delete_property,
            "market.addPropertyVariant": self._market_add_property_variant,
            "market.editPropertyVariant": self._market_edit_property_variant,
            "market.deletePropertyVariant": self._market_delete_property_variant,
            "market.groupItems": self._market_group_items,
            "market.ungroupItems": self._market_ungroup_items,
        }

    def _extended(self, params: dict[str, str], ctx) -> Any:
        group_id = self._int(params, "group_id", required=True)
        community = self._community_checked(abs(group_id), ctx, write=True)
        if not community.extended_mode:
            raise _error(1409)
        return community

    @staticmethod
    def _title(params: dict[str, str], key: str = "title") -> str:
        title = (params.get(key) or "").strip()
        if not title:
            raise _invalid(f"{key} is undefined")
        if len(title) > NAME_MAX:
            raise _error(1423)
        return title

    def _property(self, community, property_id: int) -> _Property:
        prop = self._properties.get(property_id)
        if prop is None or prop.group_id != community.id:
            raise _error(1417)
        return prop

    @staticmethod
    def _property_json(prop: _Property) -> dict:
        return {
            "id": prop.id,
            "title": prop.title,
            "type": "text",
            "variants": [{"id": vid, "title": title, "value": title} for vid, title in prop.variants.items()],
        }

    def _validated_variant_ids(self, params: dict[str, str], community) -> list[int]:
        ids = self._int_list(params, "variant_ids", required=False)
        if not ids:
            return []
        if not community.extended_mode:
            raise _error(1409)
        if len(ids) > 2:
            raise _invalid("variant_ids should contain at most 2 ids")
        owners = []
        for vid in ids:
            owner = self._variant_owner.get(vid)
            if owner is None or self._properties[owner].group_id != community.id:
                raise _error(1416)
            owners.append(owner)
        if len(set(owners)) != len(owners):
            raise _error(1426, "two variants of one property")
        return ids

    def _props_of(self, item) -> frozenset[int]:
        return frozenset(self._variant_owner.get(v) for v in item.variant_ids)

    def _members(self, group_id: int, grouping_id: int) -> list:
        """The live items of one card (a card holds items of one community only)."""
        return [i for i in self._items_in(group_id) if i.grouping_id == grouping_id and not i.removed]

    def _check_grouped_edit(self, item, variant_ids: list[int]) -> None:
        """An edit of a grouped item's variants must keep its card consistent (VK: 1412 / 1413)."""
        if item.grouping_id is None:
            return
        others = [i for i in self._members(-item.owner_id, item.grouping_id) if i.id != item.id]
        if not variant_ids:
            raise _error(1415)
        props = frozenset(self._variant_owner.get(v) for v in variant_ids)
        if any(self._props_of(o) != props for o in others):
            raise _error(1412)
        if any(sorted(o.variant_ids) == sorted(variant_ids) for o in others):
            raise _error(1413)

    def _leave_grouping(self, item) -> None:
        """A removed item leaves its card; a card left with one item is no card any more."""
        grouping_id, item.grouping_id, item.is_main_variant = item.grouping_id, None, False
        if grouping_id is None:
            return
        rest = self._members(-item.owner_id, grouping_id)
        if len(rest) < 2:
            for other in rest:
                other.grouping_id, other.is_main_variant = None, False
        elif not any(o.is_main_variant for o in rest):
            rest[0].is_main_variant = True

    # ------------------------------------------------------------------ handlers
    def _market_get_properties(self, params: dict[str, str], ctx) -> dict:
        group_id = abs(self._int(params, "group_id", required=True))
        community = self._community_checked(group_id, ctx, write=False)
        if not community.extended_mode:
            if self.readings.properties_when_off == "error":
                raise _error(1409)
            return {"count": 0, "items": []}
        props = [self._property_json(p) for p in self._properties.values() if p.group_id == community.id]
        return {"count": len(props), "items": props}

    def _market_add_property(self, params: dict[str, str], ctx) -> dict:
        community = self._extended(params, ctx)
        prop = _Property(id=self._next_property_id, group_id=community.id, title=self._title(params))
        self._next_property_id += 1
        self._properties[prop.id] = prop
        return {"property_id": prop.id}

    def _market_edit_property(self, params: dict[str, str], ctx) -> int:
        community = self._extended(params, ctx)
        self._property(community, self._int(params, "property_id", required=True)).title = self._title(params)
        return 1

    def _market_delete_property(self, params: dict[str, str], ctx) -> int:
        community = self._extended(params, ctx)
        prop = self._property(community, self._int(params, "property_id", required=True))
        for vid in prop.variants:
            self._variant_owner.pop(vid, None)
        del self._properties[prop.id]
        return 1

    def _market_add_property_variant(self, params: dict[str, str], ctx) -> dict:
        community = self._extended(params, ctx)
        prop = self._property(community, self._int(params, "property_id", required=True))
        title = self._title(params)
        vid = self._next_variant_id
        self._next_variant_id += 1
        prop.variants[vid] = title
        self._variant_owner[vid] = prop.id
        return {"variant_id": vid}

    def _variant(self, community, params: dict[str, str]) -> tuple[_Property, int]:
        vid = self._int(params, "variant_id", required=True)
        owner = self._variant_owner.get(vid)
        if owner is None or self._properties[owner].group_id != community.id:
            raise _error(1416)
        return self._properties[owner], vid

    def _market_edit_property_variant(self, params: dict[str, str], ctx) -> int:
        community = self._extended(params, ctx)
        prop, vid = self._variant(community, params)
        prop.variants[vid] = self._title(params)
        return 1

    def _market_delete_property_variant(self, params: dict[str, str], ctx) -> int:
        community = self._extended(params, ctx)
        prop, vid = self._variant(community, params)
        del prop.variants[vid]
        del self._variant_owner[vid]
        return 1

    def _market_group_items(self, params: dict[str, str], ctx) -> dict:
        """Group items into one card. With ``item_group_id`` the card is extended by the items (reading
        ``group_items_with_id=adds``) or made of exactly them (``replaces``)."""
        community = self._extended(params, ctx)
        ids = list(dict.fromkeys(self._int_list(params, "item_ids")))
        grouping_id = self._int(params, "item_group_id", default=0) or None
        items = [self._item(community, i) for i in ids]
        old_members = []
        if grouping_id is not None:
            old_members = self._members(community.id, grouping_id)
            if not old_members:  # none, or another community's card
                raise _error(1411, "item_group_id not found")
            if self.readings.group_items_with_id == "adds":
                items = old_members + [i for i in items if i.grouping_id != grouping_id]
        if len(items) < 2:
            raise _error(1425)
        if any(not i.variant_ids for i in items):
            raise _error(1415)
        props = self._props_of(items[0])
        if any(self._props_of(i) != props for i in items):
            raise _error(1412)
        seen = set()
        for item in items:
            values = tuple(sorted(item.variant_ids))
            if values in seen:
                raise _error(1426)
            seen.add(values)
        if grouping_id is None:
            grouping_id = self._next_grouping_id
            self._next_grouping_id += 1
        for old in old_members:
            if old not in items:
                old.grouping_id, old.is_main_variant = None, False
        for item in items:
            if item.grouping_id not in (None, grouping_id):
                self._leave_grouping(item)
        main = next((i for i in items if i.grouping_id == grouping_id and i.is_main_variant), items[0])
        for item in items:
            item.grouping_id, item.is_main_variant = grouping_id, item is main
        return {"item_group_id": grouping_id}

    def _market_ungroup_items(self, params: dict[str, str], ctx) -> int:
        community = self._extended(params, ctx)
        grouping_id = self._int(params, "item_group_id", required=True)
        members = self._members(community.id, grouping_id)
        if not members:
            raise _error(1411, "item_group_id not found")
        for item in members:
            item.grouping_id, item.is_main_variant = None, False
        return 1
