"""Matrices over app.url_map: another merchant's ids answer 404 everywhere, every form POST needs its CSRF token.

Both tests walk the live url_map, so a route added later is covered (or the test names it and fails) without
anyone remembering to add it here. The admin panel's 403 matrix lives in tests/admin/test_access.py
(test_merchants_get_403_everywhere walks every /admin rule the same way).
"""

from __future__ import annotations

import pytest

from evosync.extensions import db
from evosync.models import CachedGroup, CachedProduct, CachedStore, SyncLink, SyncRun, VkCachedAlbum, VkOrder
from tests.factories import logged_in_client, make_user

# Arguments that are not merchant-owned ids: tokens (single-use secrets, tested in tests/accounts), the
# language code, file names of bundled assets, and the admin panel (its own matrix, see the module docstring).
NOT_OWNED_ARGS = {"token", "lang", "name", "filename"}
# authenticated by the partner secret / HMAC signature / VK's callback secret key, not a session
WEBHOOK_PREFIXES = ("/user/", "/evotor/", "/vk/callback")


def _id_rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.rule.startswith("/admin") or rule.endpoint.endswith("static"):
            continue
        if rule.arguments <= NOT_OWNED_ARGS or rule.rule.startswith("/bootstrap/"):
            continue
        yield rule


def _owned_values(user_id: int) -> dict[str, object]:
    """Real ids of the owner's rows, one per argument name the routes use."""
    store = CachedStore.query.filter_by(user_id=user_id).first()
    group = CachedGroup.query.filter_by(user_id=user_id).first()
    album = VkCachedAlbum.query.filter_by(user_id=user_id).first()
    run = SyncRun.query.filter_by(user_id=user_id).first()
    link = SyncLink.query.filter(SyncLink.user_id == user_id, SyncLink.vk_item_id.is_not(None)).first()
    assert store and group and album and run and link, "the owner's shop has every kind of row"
    order = VkOrder.query.filter_by(user_id=user_id).first()
    if order is None:  # a VK order of the owner's community (the shop fixture places none)
        order = VkOrder(user_id=user_id, group_id=1, vk_order_id=1, display_id="1-1")
        db.session.add(order)
        db.session.commit()
    return {
        "order_id": order.id,
        "store_id": store.evotor_id,
        "group_id": group.evotor_id,
        "album_id": album.id,
        "run_id": run.id,
        "vk_item_id": link.vk_item_id,
    }


def _snapshot(user_id: int) -> tuple:
    """What a POST by someone else must leave as it was."""
    db.session.expire_all()
    return (
        sorted((s.evotor_id, s.name) for s in CachedStore.query.filter_by(user_id=user_id)),
        sorted((r.id, r.status) for r in SyncRun.query.filter_by(user_id=user_id)),
        CachedProduct.query.filter_by(user_id=user_id).count(),
        sorted((link.id, link.content_hash) for link in SyncLink.query.filter_by(user_id=user_id)),
        repr(sorted(_enabled_flags(user_id))),
    )


def _enabled_flags(user_id: int):
    from evosync.services.evotor_catalog.scope import publishable_scope

    scope = publishable_scope(user_id)
    return [*scope.store_ids, *(g for gs in scope.groups_by_store.values() for g in gs)]


def test_every_route_with_an_id_is_404_for_another_merchant(fast_vk, synced_shop, owner, stranger):
    """Each route taking an id, with the owner's real ids, answers 404 to another merchant for every method it
    accepts; the same GET URLs work for the owner, and the stranger's POSTs change nothing."""
    values = _owned_values(synced_shop.user_id)
    before = _snapshot(synced_shop.user_id)
    checked = []
    for rule in _id_rules(fast_vk):
        missing = rule.arguments - values.keys()
        assert not missing, f"{rule.rule}: give the matrix a real value for {sorted(missing)}"
        from flask import url_for

        with fast_vk.test_request_context():
            url = url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = stranger.open(url, method=method)
            assert resp.status_code == 404, f"{method} {url} as another merchant: {resp.status_code}"
            checked.append(f"{method} {rule.rule}")
            if method == "GET":
                assert owner.get(url).status_code == 200, f"GET {url} as its owner"
    assert _snapshot(synced_shop.user_id) == before, "another merchant's POSTs changed nothing"
    # the routes known today are all in the walk (a rename would silently shrink it)
    assert {
        "GET /catalog/stores/<store_id>/groups",
        "GET /catalog/stores/<store_id>/products",
        "POST /catalog/stores/<store_id>/toggle",
        "POST /catalog/stores/<store_id>/groups/<group_id>/toggle",
        "GET /sync/runs/<int:run_id>",
        "POST /sync/runs/<int:run_id>/confirm",
        "POST /sync/runs/<int:run_id>/retry",
        "GET /vk-catalog/albums/<int:album_id>/products",
        "GET /orders/<int:order_id>",
        "POST /orders/<int:order_id>/status",
    } <= set(checked), checked


def _post_rules(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith(WEBHOOK_PREFIXES):
            yield rule


def _fill(rule, user_id: int) -> dict[str, object]:
    """Any plausible value per argument: the CSRF check runs before the view looks at it."""
    fillers = {"user_id": user_id, "role_id": 1, "action_name": "suspend", "job_id": "x", "queue_name": "high"}
    return {arg: fillers.get(arg, "1") for arg in rule.arguments}


@pytest.mark.parametrize("who", ["system", "merchant", "anonymous"])
def test_every_form_post_without_a_csrf_token_is_400(app, who):
    """With CSRF on (as in production), every POST route except the secret-authenticated webhooks refuses a
    request without the token with 400, whoever sends it (staff with every permission, a merchant, nobody)."""
    from flask import url_for

    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    user = None
    if who != "anonymous":
        user = make_user(roles=("system",) if who == "system" else ("user",))
        app.config["WTF_CSRF_ENABLED"] = False  # the login itself; the token is checked from here on
        client = logged_in_client(app, user)
        app.config["WTF_CSRF_ENABLED"] = True
    seen = []
    for rule in _post_rules(app):
        with app.test_request_context():
            url = url_for(rule.endpoint, **_fill(rule, user.id if user else 1))
        resp = client.post(url, data={"name": "x", "email": "a@example.com"}, headers={"Accept": "text/html"})
        assert resp.status_code == 400, f"POST {url} as {who} without a CSRF token: {resp.status_code}"
        assert b"Traceback" not in resp.data
        seen.append(rule.rule)
    assert {"/sync/run", "/connections/vk", "/profile/delete", "/admin/users/<int:user_id>/<action_name>"} <= set(seen)


def test_json_checks_need_the_token_header_too(app):
    """The inline connection checks (fetch from the page) are refused without X-CSRFToken, and work with it."""
    import re

    user = make_user()
    client = logged_in_client(app, user)
    app.config["WTF_CSRF_ENABLED"] = True
    assert client.post("/connections/vk/test", headers={"Accept": "application/json"}).status_code == 400
    page = client.get("/connections").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    resp = client.post("/connections/vk/test", headers={"Accept": "application/json", "X-CSRFToken": token})
    assert resp.status_code != 400, resp.data[:300]
