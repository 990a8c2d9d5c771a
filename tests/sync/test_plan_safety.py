"""The plan's merchant-safety rules: VK's moderation respected, fields the merchant leaves to VK left alone."""

from __future__ import annotations

import dataclasses

import pytest

from evosync.services.sync.plan_model import Settings
from tests.sync.test_plan import World, _published, group, ops, product


def _rejected(**changes) -> World:
    """P1 published as #7; VK's moderators rejected it; the product now has ``changes`` in Evotor."""
    w = _published(**changes)
    w.vk_items[0] = dataclasses.replace(w.vk_items[0], reject_reason="Товар запрещён — нарушение правил")
    return w


def _retry_asked() -> World:
    w = _rejected()
    w.links[0] = dataclasses.replace(w.links[0], content_hash=None)
    return w


def _vk_owned(*names: str, **vk) -> World:
    """P1 published as #7; the merchant leaves ``names`` to VK and edited the item in VK (``vk``)."""
    w = _published()
    w.settings = Settings(vk_owned=frozenset(names))
    w.vk_items[0] = dataclasses.replace(w.vk_items[0], **vk)
    return w


ROWS = [
    pytest.param(_rejected, set(), id="rejected-item-not-rewritten"),
    pytest.param(
        lambda: _rejected(price=150),
        {"update P1 #7 category_id,deleted,description,name,price,sku,stock_amount"},
        id="rejected-item-sent-again-when-its-product-changes",
    ),
    pytest.param(
        _retry_asked,
        {"update P1 #7 category_id,deleted,description,name,price,sku,stock_amount"},
        id="rejected-item-sent-again-when-the-merchant-asks",
    ),
    pytest.param(
        lambda: _vk_owned("description", description="Написано в VK вручную, длинно и красиво"),
        set(),
        id="vk-owned-description-survives",
    ),
    pytest.param(
        lambda: _vk_owned("name", title="Моё название в VK"),
        set(),
        id="vk-owned-name-survives",
    ),
    pytest.param(
        lambda: _vk_owned("description", title="Моё название в VK"),
        {"update P1 #7 name"},
        id="evotor-decides-the-rest",
    ),
    pytest.param(lambda: _vk_owned("price", price=1), set(), id="vk-owned-price"),
    pytest.param(lambda: _new_image("photos"), set(), id="vk-owned-photo-new-evotor-image-not-uploaded"),
    pytest.param(lambda: _new_image(), {"update P1 #7 - +photo"}, id="evotor-decides-photo-new-image-uploaded"),
]


def _new_image(*names: str) -> World:
    w = _published(image_key="a-new-image")
    w.settings = Settings(vk_owned=frozenset(names))
    return w


@pytest.mark.parametrize(("world", "expected"), ROWS)
def test_merchant_safety_rules(world, expected):
    assert ops(world().plan()) == expected


def test_a_rejected_item_is_reported_with_vks_reason():
    (rejected,) = _rejected().plan().rejected
    assert rejected.vk_item_id == 7 and "нарушение правил" in rejected.reason


def test_vk_owned_album_is_not_moved():
    w = _published(groups=[group("G1"), group("G2")], parent_id="G2")
    w.settings = Settings(vk_owned=frozenset({"album"}))
    assert not any(op.startswith(("add ", "take ")) for op in ops(w.plan()))
    w.settings = Settings()
    assert "add P1 #7 to G2" in ops(w.plan())


def test_first_publication_sends_every_field_even_those_vk_decides_later():
    w = World([product()], settings=Settings(vk_owned=frozenset({"name", "description", "price", "stock"})))
    (create,) = w.plan().creates
    assert {"name", "description", "price", "stock_amount"} <= set(create.desired.fields)
