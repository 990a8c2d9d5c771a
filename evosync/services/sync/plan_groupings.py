"""A plan's VK card groupings: keep each card's VK grouping equal to its members, ungroup what must not be a
card. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict

from . import mapping
from .plan_model import (
    N_,
    AlbumKey,
    GroupItems,
    Key,
    Plan,
    PlanInput,
    Ungroup,
    VkItem,
    _Tree,
)


def plan_groupings(
    plan: Plan,
    data: PlanInput,
    tree: _Tree,
    owned: dict[Key, list[VkItem]],
    kept: dict[Key, VkItem | None],
    options_change: set[Key],
) -> None:
    """Keep each card's VK grouping equal to its members; ungroup what must not be a card.

    The cards VK holds for a card of the plan are the groupings of the items its products own (all products of a
    modification group; the members of a card made by name). One card holding exactly the members (or some of
    them, the rest new) is extended; anything else - two cards for one group (a lost answer), an item in it that
    is no member, options that change - is ungrouped first and grouped anew, so VK never sees an edit or a
    removal that breaks a card, and one group never shows as two cards. A grouping of our items that no card
    explains (the merchant switched grouping by name off, a group's variants all gone) is ungrouped.
    """
    deleting = {r.vk_item_id for r in plan.removals if r.mode == "delete"}
    cards = {c.card: c for c in plan.cards}
    grouped_by_id: dict[int, set[int]] = defaultdict(set)
    for item in data.vk_items:
        if item.grouping_id is not None and not item.restorable and item.item_id not in deleting:
            grouped_by_id[item.grouping_id].add(item.item_id)
    card_of: dict[Key, AlbumKey] = {}
    for product in data.products:
        group = tree.get(product.store_id, product.parent_id)
        if group is not None and group.attributes:
            card_of[product.key] = (group.store_id, group.id)
    for card in plan.cards:
        for key in card.members:
            card_of[key] = card.card
    groupings_of: dict[AlbumKey, set[int]] = defaultdict(set)
    explained: set[int] = set()
    for key, items in owned.items():
        for item in items:
            if item.grouping_id is None or item.grouping_id not in grouped_by_id:
                continue
            if key in card_of:
                groupings_of[card_of[key]].add(item.grouping_id)
                explained.add(item.grouping_id)
    orphans = {
        item.grouping_id
        for items in owned.values()
        for item in items
        if item.grouping_id in grouped_by_id and item.grouping_id not in explained
    }
    for gid in sorted(orphans):
        plan.ungroupings.append(Ungroup(("", ""), "", gid, N_("no longer a card")))
    for card_key in sorted(set(groupings_of) | set(cards)):
        card = cards.get(card_key)
        current = sorted(groupings_of.get(card_key, ()))
        group = tree.get(*card_key)
        title = card.title if card else mapping.item_name(group.name if group else "")
        if card is None:
            for gid in current:
                plan.ungroupings.append(Ungroup(card_key, title, gid, N_("fewer than two variants to offer")))
            continue
        existing = {kept[k].item_id for k in card.members if kept.get(k) is not None}
        new_members = any(kept.get(k) is None for k in card.members)
        reshape = any(k in options_change for k in card.members)
        if not current:
            plan.groupings.append(GroupItems(card_key, card.title, card.members))
        elif len(current) == 1 and not reshape and grouped_by_id[current[0]] <= existing:
            if grouped_by_id[current[0]] != existing or new_members:
                plan.groupings.append(GroupItems(card_key, card.title, card.members, current[0]))
        else:
            reason = N_("the options of its variants change") if reshape else N_("the card is made anew")
            for gid in current:
                plan.ungroupings.append(Ungroup(card_key, card.title, gid, reason))
            plan.groupings.append(GroupItems(card_key, card.title, card.members))
    once: set[int] = set()  # a VK card claimed by two of ours (never made so, but read so) is ungrouped once
    plan.ungroupings = [u for u in plan.ungroupings if not (u.item_group_id in once or once.add(u.item_group_id))]
