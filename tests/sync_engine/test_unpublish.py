"""Deleting an account with "remove my VK items" first removes exactly what EvoSync created in VK."""

from evosync.models import RunStatus, User
from evosync.services.sync.runner import run_sync
from tests.factories import PASSWORD, logged_in_client
from tests.sync_engine.conftest import open_shop


def test_account_deletion_removes_our_vk_items_and_albums_but_not_the_merchants_own(fast_vk, sandbox):
    """Items and albums EvoSync published go; an item the merchant made by hand in VK stays; the account goes."""
    shop = open_shop(sandbox, n_products=15)
    assert run_sync(shop.user_id).status == RunStatus.SUCCEEDED
    assert len(shop.vk_items()) > 10
    from tests.vk_catalog.conftest import Market

    (own_id,) = Market(sandbox, shop.vk_token, shop.group_id).add_items(1, prefix="Свой товар")
    client = logged_in_client(fast_vk, shop.user)
    resp = client.post("/profile/delete", data={"password": PASSWORD, "remove_vk_items": "y"})
    assert resp.status_code == 302
    assert [i["id"] for i in shop.vk_items()] == [own_id]
    assert sandbox.vk.albums(shop.group_id) == []
    assert User.query.filter_by(email=shop.user.email).first() is None
