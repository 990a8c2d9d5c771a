"""groups.get (filter=admin,editor, extended) in the emulator and VkClient.get_admin_groups over HTTP."""

from __future__ import annotations

import pytest

from evosync.clients.errors import VkApiError
from evosync.clients.vk import VkClient


def test_admin_groups_lists_only_the_users_communities_with_market_state(sandbox):
    """Only communities the token's user manages come back, with name, screen name and the products switch."""
    sandbox.vk.rate_limit_enabled = False
    sandbox.vk.add_user("owner-token")
    sandbox.vk.add_user("stranger-token")
    sandbox.vk.add_community(901, "Первая", admin_tokens=("owner-token",))
    sandbox.vk.add_community(902, "Вторая", admin_tokens=("owner-token",), market_enabled=False, screen_name="second")
    sandbox.vk.add_community(903, "Чужая", admin_tokens=("stranger-token",))

    groups = VkClient("owner-token", sandbox.vk_url).get_admin_groups()

    assert [(g["id"], g["name"], g["screen_name"], g["market"]["enabled"]) for g in groups] == [
        (901, "Первая", "club901", 1),
        (902, "Вторая", "second", 0),
    ]
    assert VkClient("stranger-token", sandbox.vk_url).get_admin_groups()[0]["id"] == 903
    assert sandbox.vk.stats["methods"]["groups.get"] == 2


def test_groups_get_pages_and_plain_ids(sandbox):
    """Without extended the emulator answers ids; offset/count page through the list like VK."""
    sandbox.vk.rate_limit_enabled = False
    sandbox.vk.add_user("many-token")
    for group_id in range(1001, 1006):
        sandbox.vk.add_community(group_id, f"Сообщество {group_id}", admin_tokens=("many-token",))
    client = VkClient("many-token", sandbox.vk_url)
    assert client.call("groups.get", filter="admin", offset=1, count=2) == {"count": 5, "items": [1002, 1003]}
    last_page = client.call("groups.get", extended=1, offset=4, count=2)
    assert [g["id"] for g in last_page["items"]] == [1005] and last_page["count"] == 5
    assert [g["id"] for g in client.get_admin_groups()] == list(range(1001, 1006))


def test_groups_get_of_another_user_is_refused(sandbox):
    """Asking for somebody else's communities answers error 15, as VK does without their consent."""
    sandbox.vk.rate_limit_enabled = False
    sandbox.vk.add_user("me-token")
    with pytest.raises(VkApiError) as refused:
        VkClient("me-token", sandbox.vk_url).call("groups.get", user_id=1, filter="admin")
    assert refused.value.code == 15
