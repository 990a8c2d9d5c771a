"""refresh_vk_catalog against the VK emulator: the mirror follows VK, costs few requests, and failures stay put."""

from __future__ import annotations

import threading
from decimal import Decimal

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import ConnectionState, VkCachedAlbum, VkCachedProduct, VkConnection
from evosync.services.connections import vk_client_for
from evosync.services.vk_catalog.read import read_vk_market
from evosync.services.vk_catalog.refresh import last_refresh, refresh_all_vk_catalogs, refresh_vk_catalog
from evosync.services.vk_catalog.rows import photo_url_from_vk, price_from_vk


def _mirror(user_id: int) -> dict[int, VkCachedProduct]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(VkCachedProduct).where(VkCachedProduct.user_id == user_id))
    return {row.vk_item_id: row for row in rows}


def _albums(user_id: int) -> dict[int, VkCachedAlbum]:
    rows = db.session.scalars(sa.select(VkCachedAlbum).where(VkCachedAlbum.user_id == user_id))
    return {row.vk_album_id: row for row in rows}


def _assert_mirror_matches_vk(sandbox, user_id: int, group_id: int) -> None:
    """Every live VK item and album is mirrored with the same fields; nothing else is."""
    live = [i for i in sandbox.vk.items(group_id) if not i["deleted"]]
    mirror = _mirror(user_id)
    assert set(mirror) == {i["id"] for i in live}
    for item in live:
        row = mirror[item["id"]]
        assert row.group_id == group_id
        assert row.title == item["title"]
        assert row.description == item["description"]
        assert row.price == Decimal(item["price"]) / 100
        assert row.availability == item["availability"]
        assert row.sku == item["sku"]
        assert row.category_id == item["category_id"]
        assert row.album_ids == sorted(item["albums_ids"])
        assert row.photo_url and row.photo_url.endswith(f"/photo/{item['main_photo_id']}")
    albums = _albums(user_id)
    vk_albums = sandbox.vk.albums(group_id)
    assert set(albums) == {a["id"] for a in vk_albums}
    for album in vk_albums:
        row = albums[album["id"]]
        assert (row.title, row.item_count, row.is_main, row.is_hidden) == (
            album["title"],
            album["count"],
            album["is_main"],
            album["is_hidden"],
        )


# ------------------------------------------------------------------------------------------------ pure parts


def test_price_comes_back_to_rubles_from_a_kopecks_string():
    """VK's amount "19950" is 199.50 rubles, exactly (Decimal); junk and absence give 0."""
    assert price_from_vk({"amount": "19950", "currency": {"id": 643}}) == Decimal("199.50")
    assert price_from_vk({"amount": "1"}) == Decimal("0.01")
    assert price_from_vk({"amount": "99999999999"}) == Decimal("999999999.99")
    assert price_from_vk({"amount": "abc"}) == Decimal("0")
    assert price_from_vk(None) == Decimal("0")


def test_photo_url_prefers_the_smallest_size_of_at_least_400_px():
    """Of VK's sizes the page gets one that is sharp enough without being the largest; else the largest."""
    sizes = [
        {"type": "s", "url": "https://x/s", "width": 75},
        {"type": "z", "url": "https://x/z", "width": 1080},
        {"type": "x", "url": "https://x/x", "width": 604},
    ]
    assert photo_url_from_vk({"sizes": sizes}) == "https://x/x"
    assert photo_url_from_vk({"sizes": sizes[:1]}) == "https://x/s"
    assert photo_url_from_vk({"id": 5}) is None


# ------------------------------------------------------------------------------------------------ against VK


def test_mirror_follows_creates_edits_deletions_and_album_moves(vk_env, connect_merchant):
    """After each round of changes in VK, a refresh leaves the mirror equal to the emulator's market."""
    sandbox = vk_env
    user, market = connect_merchant()
    drinks, food = market.add_album("Напитки"), market.add_album("Еда")
    ids = market.add_items(6)
    market.call("market.addToAlbum", item_ids=ids[:3], album_ids=[drinks])
    market.call("market.addToAlbum", item_ids=ids[2:4], album_ids=[food])
    hidden = market.add_items(1, prefix="Нет в наличии", deleted=1)[0]  # VK: unavailable, still listed

    summary = refresh_vk_catalog(user.id)
    assert summary.ok, summary.message
    assert (summary.products, summary.albums, summary.products_added) == (7, 2, 7)
    _assert_mirror_matches_vk(sandbox, user.id, market.group_id)
    assert _mirror(user.id)[hidden].availability == 2
    assert _mirror(user.id)[ids[0]].price == Decimal("199.50")

    # Edits, a deletion, moves between albums, a removed album, a new album and a new item.
    market.call("market.edit", item_id=ids[0], name="Новое название", price="10.05", description="Новое описание!")
    market.call("market.edit", item_id=ids[1], deleted=1)
    market.call("market.delete", item_id=ids[4])
    market.call("market.removeFromAlbum", item_id=ids[2], album_ids=[drinks])
    market.call("market.deleteAlbum", album_id=food)
    sweets = market.add_album("Сладости")
    new = market.add_items(1, prefix="Новинка")[0]
    market.call("market.addToAlbum", item_ids=[ids[5], new], album_ids=[sweets])

    summary = refresh_vk_catalog(user.id)
    assert summary.ok, summary.message
    assert (summary.products_added, summary.products_removed) == (1, 1)
    assert (summary.albums_added, summary.albums_removed) == (1, 1)
    _assert_mirror_matches_vk(sandbox, user.id, market.group_id)
    mirror = _mirror(user.id)
    assert mirror[ids[0]].title == "Новое название" and mirror[ids[0]].price == Decimal("10.05")
    assert mirror[ids[1]].availability == 2
    assert ids[4] not in mirror
    assert mirror[ids[2]].album_ids == [] and mirror[ids[3]].album_ids == []
    assert _albums(user.id)[drinks].photo_url  # a cover: VK's album photo, else its first item's


def test_unchanged_resync_costs_one_request_and_writes_nothing(vk_env, connect_merchant):
    """A second refresh of an unchanged market is one VK request (an execute) and updates no row."""
    user, market = connect_merchant()
    market.add_album("Все товары")
    market.add_items(3)
    first = refresh_vk_catalog(user.id)
    requests_before = vk_env.vk.stats["requests"]
    second = refresh_vk_catalog(user.id)
    assert first.ok and second.ok
    assert second.vk_requests == 1 == vk_env.vk.stats["requests"] - requests_before
    assert (second.products_added, second.products_updated, second.products_removed) == (0, 0, 0)
    assert (second.albums_added, second.albums_updated, second.albums_removed) == (0, 0, 0)
    assert last_refresh(user.id)["products"] == 3


def test_more_than_200_items_are_read_over_pages_in_few_requests(vk_env, connect_merchant):
    """401 items (3 pages): the first refresh takes 2 requests, the next one 1; one page per request works too."""
    user, market = connect_merchant()
    ids = market.add_items(401)
    first = refresh_vk_catalog(user.id)
    assert first.ok and first.products == 401 and first.vk_requests == 2
    assert set(_mirror(user.id)) == set(ids)
    second = refresh_vk_catalog(user.id)
    assert second.vk_requests == 1 and second.products_updated == 0
    _assert_mirror_matches_vk(vk_env, user.id, market.group_id)

    # One page per execute (a guard against VK's answer-size limit): albums, then 3 item pages, 4 requests.
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id))
    client = vk_client_for(conn)
    snapshot = read_vk_market(client, market.group_id, pages_per_request=1)
    assert {i["id"] for i in snapshot.items} == set(ids) and snapshot.consistent
    assert client.requests_made == 4


def test_refresh_under_the_real_3_per_second_rule_never_meets_error_6(vk_env, connect_merchant, app):
    """With VK's rule on and the shared limiter at 3/s, several refreshes in a row draw no error 6."""
    user, market = connect_merchant()
    market.add_items(2)
    vk_env.vk.rate_limit_enabled = True
    app.config["VK_RATE_LIMIT_PER_SECOND"] = 3
    for _ in range(5):
        assert refresh_vk_catalog(user.id).ok
    assert vk_env.vk.stats["errors"].get("6", 0) == 0


def test_revoked_token_breaks_only_that_merchant(vk_env, connect_merchant):
    """A's token is revoked: A's connection is broken with plain words, B's mirror is still refreshed."""
    a, market_a = connect_merchant()
    b, market_b = connect_merchant()
    market_a.add_items(1)
    market_b.add_items(2)
    assert refresh_vk_catalog(a.id).ok
    vk_env.vk.revoke_token(market_a.token)

    summaries = {s.user_id: s for s in refresh_all_vk_catalogs()}
    assert summaries[a.id].status == "failed" and summaries[a.id].error_code == 5
    assert summaries[b.id].ok and summaries[b.id].products == 2
    conn_a = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == a.id))
    assert conn_a.state == ConnectionState.BROKEN
    assert "token" in conn_a.last_error.lower() and "vk1.a" not in conn_a.last_error
    assert len(_mirror(a.id)) == 1  # the old mirror stays: better stale than empty
    # A broken connection is skipped without a request until the merchant reconnects.
    before = vk_env.vk.stats["requests"]
    assert refresh_vk_catalog(a.id).status == "skipped"
    assert vk_env.vk.stats["requests"] == before


def test_a_passing_flood_control_is_waited_out(vk_env, connect_merchant):
    """One error 9 is retried after a pause (VK_FLOOD_RETRIES): the refresh succeeds, nothing is paused."""
    user, market = connect_merchant()
    vk_env.vk.faults.push("9", method="execute")
    summary = refresh_vk_catalog(user.id)
    assert summary.status == "ok" and summary.vk_requests == 2
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id))
    assert conn.paused_until is None


def test_flood_control_pauses_the_merchant(app, vk_env, connect_merchant):
    """Error 9 that persists past the retries stops the refresh, sets paused_until, and later refreshes skip."""
    user, market = connect_merchant()
    retries = app.config["VK_FLOOD_RETRIES"]
    for _ in range(retries + 1):
        vk_env.vk.faults.push("9", method="execute")
    summary = refresh_vk_catalog(user.id)
    assert summary.status == "failed" and summary.error_code == 9 and summary.vk_requests == retries + 1
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id))
    assert conn.paused_until is not None and conn.state == ConnectionState.CONNECTED
    before = vk_env.vk.stats["requests"]
    skipped = refresh_vk_catalog(user.id)
    assert skipped.status == "skipped" and skipped.reason == "paused"
    assert vk_env.vk.stats["requests"] == before


def test_market_switched_off_marks_the_connection(vk_env, connect_merchant):
    """Error 1438 (inside the execute) marks the connection: market_enabled False and a message saying what to do."""
    user, market = connect_merchant()
    vk_env.vk.set_market_enabled(market.group_id, False)
    summary = refresh_vk_catalog(user.id)
    assert summary.status == "failed" and summary.error_code == 1438 and summary.reason == "market_disabled"
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id))
    assert conn.market_enabled is False and "Products" in conn.last_error


def test_a_passing_vk_outage_keeps_the_mirror_and_the_connection(vk_env, connect_merchant):
    """5xx on every retry: the refresh fails, but the mirror and the connection state are left alone."""
    user, market = connect_merchant()
    market.add_items(2)
    assert refresh_vk_catalog(user.id).ok
    vk_env.vk.faults.configure(rate=1.0, kinds=("5xx",), seed=1)
    try:
        summary = refresh_vk_catalog(user.id)
    finally:
        vk_env.vk.faults.clear()
    assert summary.status == "failed" and summary.reason == "vk_error"
    conn = db.session.scalar(sa.select(VkConnection).where(VkConnection.user_id == user.id))
    assert conn.state == ConnectionState.CONNECTED and conn.last_error is None
    assert len(_mirror(user.id)) == 2


def test_not_connected_merchant_is_skipped_without_requests(vk_env, app):
    """No VK connection: a skipped summary that says where to connect, and no VK request."""
    from tests.factories import make_user

    user = make_user()
    summary = refresh_vk_catalog(user.id)
    assert summary.status == "skipped" and summary.reason == "not_connected"
    assert "Connections" in summary.message
    assert vk_env.vk.stats["requests"] == 0


def test_two_refreshes_of_one_merchant_at_once_take_turns(app, vk_env, connect_merchant):
    """ "Refresh now" during a sync's refresh: the second waits for the first (a Redis lock), both succeed."""
    user, market = connect_merchant()
    market.add_items(5)
    statuses: list[str] = []
    user_id = user.id  # read here: the threads must not lazy-load through the test's session

    def refresh_in_worker() -> None:
        with app.app_context():
            statuses.append(refresh_vk_catalog(user_id).status)
            db.session.remove()

    workers = [threading.Thread(target=refresh_in_worker) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert statuses == ["ok", "ok"]
    _assert_mirror_matches_vk(vk_env, user.id, market.group_id)
