"""The VK market pages: albums with counts and covers, paginated products, own data only, empty states, refresh."""

from __future__ import annotations

import re

import pytest
from flask import g
from rq import Queue

from evosync.extensions import db
from evosync.models import SyncLink
from evosync.redis_conn import get_redis
from evosync.services.vk_catalog.refresh import refresh_vk_catalog
from tests.factories import logged_in_client, make_user


def _text(response) -> str:
    return response.get_data(as_text=True)


def _get_as(client, url: str):
    """GET as the user ``client`` logged in with. The test app context outlives requests, so flask-login's
    per-request user cache (g._login_user) would carry the previous client's user into this request."""
    g.pop("_login_user", None)
    return client.get(url)


def _album_row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'/vk-catalog/albums/(\d+)/products"', html) if n != "0"]


@pytest.fixture
def shop(app, connect_merchant):
    """A merchant whose community has 2 albums, 30 items (one unavailable), mirrored once; logged in."""
    user, market = connect_merchant("shop@example.com")
    drinks = market.add_album("Напитки")
    market.add_album("Пустой альбом")
    ids = market.add_items(29)
    ids += market.add_items(1, prefix="Закончился", deleted=1)
    market.call("market.addToAlbum", item_ids=ids[:26], album_ids=[drinks])
    assert refresh_vk_catalog(user.id).ok
    return user, market, ids, logged_in_client(app, user)


def test_albums_page_lists_albums_with_counts_and_covers(shop):
    """Each album shows its title, item count and a cover; "Not in any album" counts the rest."""
    user, market, ids, client = shop
    response = client.get("/vk-catalog/albums")
    html = _text(response)
    assert response.status_code == 200
    assert "Напитки" in html and "Пустой альбом" in html
    assert re.search(r"Напитки</h2>\s*<p[^>]*>\s*26 ", html)
    assert re.search(r"Not in any album</h2>\s*<p[^>]*>4 ", html) or re.search(r"Не .*альбом", html)
    # VK gives this album no photo: its cover is the photo of its newest item, as VK's own page shows.
    photo_of = {item["id"]: item["main_photo_id"] for item in market.sandbox.vk.items(market.group_id)}
    assert f'src="{market.sandbox.base_url}/vk/photo/{photo_of[ids[25]]}"' in html
    assert client.get("/vk-catalog/").status_code == 302


def test_album_products_are_paginated_with_price_availability_link_and_managed_flag(shop):
    """24 per page; price in rubles, availability in words, a vk.com link, and "Managed by EvoSync" for linked items."""
    user, market, ids, client = shop
    db.session.add(
        SyncLink(user_id=user.id, store_evotor_id="s1", evotor_product_id="p1", sku="evo-1", vk_item_id=ids[25])
    )
    db.session.commit()
    album_id = _album_row_ids(_text(client.get("/vk-catalog/albums")))[0]
    first = _text(client.get(f"/vk-catalog/albums/{album_id}/products"))
    second = _text(client.get(f"/vk-catalog/albums/{album_id}/products?page=2"))
    g = market.group_id
    assert first.count("vk-product") == 24 and second.count("vk-product") == 2
    assert "199.50 ₽" in first and "Available" in first
    # Newest first, as VK lists them: the oldest two of the album are on page 2.
    assert f"https://vk.com/market-{g}?w=product-{g}_{ids[0]}" in second
    assert f"https://vk.com/market-{g}?w=product-{g}_{ids[25]}" in first
    assert first.count("Managed by EvoSync") == 1
    assert "Page 2 of 2" in second


def test_items_in_no_album_and_all_items(shop):
    """Album 0 lists the items in no album (including the unavailable one); /products lists all 30."""
    user, market, ids, client = shop
    none = _text(client.get("/vk-catalog/albums/0/products"))
    assert none.count("vk-product") == 4 and "Not available for order" in none
    everything = _text(client.get("/vk-catalog/products?page=2"))
    assert everything.count("vk-product") == 6


def test_other_merchants_albums_are_404(app, shop, connect_merchant):
    """B cannot open A's album (by its id), nor a page past the end; A can."""
    user, market, ids, client_a = shop
    album_id = _album_row_ids(_text(client_a.get("/vk-catalog/albums")))[0]
    other, _market = connect_merchant("other@example.com")
    g.pop("_login_user", None)
    client_b = logged_in_client(app, other)
    assert _get_as(client_b, f"/vk-catalog/albums/{album_id}/products").status_code == 404
    assert _get_as(client_b, "/vk-catalog/albums/999999/products").status_code == 404
    assert "Напитки" not in _text(_get_as(client_b, "/vk-catalog/albums"))
    assert _get_as(client_a, f"/vk-catalog/albums/{album_id}/products").status_code == 200
    assert _get_as(client_a, f"/vk-catalog/albums/{album_id}/products?page=9").status_code == 404


def test_without_a_vk_connection_the_page_points_to_connections(app, vk_env):
    """No VK connection: the page says so and links to /connections; nothing is offered to refresh."""
    client = logged_in_client(app, make_user())
    html = _text(client.get("/vk-catalog/albums"))
    assert "VK is not connected yet" in html and 'href="/connections' in html
    assert "Refresh now" not in html


def test_never_refreshed_offers_refresh_now_with_csrf_and_it_fills_the_mirror(app, connect_merchant):
    """A fresh connection shows "Refresh now" (POST with a CSRF token); pressing it reads VK (jobs inline here)."""
    user, market = connect_merchant()
    market.add_album("Хиты")
    market.add_items(2)
    client = logged_in_client(app, user)
    app.config["WTF_CSRF_ENABLED"] = True
    html = _text(client.get("/vk-catalog/albums"))
    assert "has not been read yet" in html and "Refresh now" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/vk-catalog/refresh").status_code == 400  # no CSRF token, no refresh
    response = client.post("/vk-catalog/refresh", data={"csrf_token": token}, follow_redirects=True)
    html = _text(response)
    assert response.status_code == 200 and "Хиты" in html and "1 albums and 2 products" in html


def test_refresh_is_enqueued_on_the_high_queue(app, connect_merchant):
    """With real queues, "Refresh now" puts one refresh_vk_catalog_job for this user on the HIGH queue."""
    user, _market = connect_merchant()
    app.config["RUN_JOBS_INLINE"] = False
    client = logged_in_client(app, user)
    response = client.post("/vk-catalog/refresh")
    assert response.status_code == 302
    queue = Queue("high", connection=get_redis())
    jobs = queue.get_jobs()
    assert len(jobs) == 1
    assert jobs[0].func_name == "evosync.jobs.vk_catalog.refresh_vk_catalog_job" and jobs[0].args == (user.id,)


def test_refresh_without_connection_enqueues_nothing(app, vk_env):
    """POST refresh with no VK connection: a warning, and no job."""
    app.config["RUN_JOBS_INLINE"] = False
    client = logged_in_client(app, make_user())
    html = _text(client.post("/vk-catalog/refresh", follow_redirects=True))
    assert "Connect your VK community first" in html
    assert Queue("high", connection=get_redis()).count == 0


def test_pages_need_a_login(client):
    """Anonymous visitors are sent to the login page."""
    response = client.get("/vk-catalog/albums")
    assert response.status_code in (302, 401) and "login" in response.headers.get("Location", "/login")


def test_cli_refreshes_one_merchant_by_email(app, runner, connect_merchant):
    """`flask refresh-vk-catalog --user EMAIL` refreshes that merchant and prints the outcome."""
    user, market = connect_merchant("cli@example.com")
    market.add_items(3)
    other, other_market = connect_merchant("untouched@example.com")
    other_market.add_items(1)
    result = runner.invoke(args=["refresh-vk-catalog", "--user", "CLI@example.com"])
    assert result.exit_code == 0, result.output
    assert f"user {user.id}: ok" in result.output and "3 products" in result.output
    assert f"user {other.id}" not in result.output
    unknown = runner.invoke(args=["refresh-vk-catalog", "--user", "nobody@example.com"])
    assert unknown.exit_code != 0
