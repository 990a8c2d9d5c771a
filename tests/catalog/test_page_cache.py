"""The products page's per-process cache (web/page_cache.py): a repeat view reads no catalog rows, and every way
the shown data can change (refresh, catalog event, ORM edit, sync link, locale, another merchant, a flashed
message) shows at once."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import CachedProduct, ConnectionState, EvotorConnection, LinkStatus, SyncLink
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.web.page_cache import EXTENSION_KEY, PageCache
from tests.factories import logged_in_client, make_user

WEBHOOK_SECRET = "page-cache-webhook-secret"


@contextlib.contextmanager
def statements():
    """The SQL statements the block runs (on the app's engine)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def page(client, store_id: str, query: str = "") -> str:
    resp = client.get(f"/catalog/stores/{store_id}/products{query}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def row_of(html: str, product_id: str) -> str:
    return re.search(rf'data-product-id="{product_id}".*?</tr>', html, re.S).group(0)


def test_a_repeat_view_is_served_from_the_cache_without_reading_products(evotor_app, web, refreshed):
    """The second view is the same page, and runs no query on products, groups or sync links (only the user and
    the store); another page number or search is a page of its own."""
    a = refreshed.stores["a"]
    with statements() as first_run:
        first = page(web, a)
    assert any("cached_products" in s for s in first_run)
    with statements() as second_run:
        second = page(web, a)
    assert second == first
    assert not [s for s in second_run if re.search(r"cached_products|cached_groups|sync_links", s)], second_run
    with statements() as other_run:
        other = page(web, a, "?page=2")
    assert any("cached_products" in s for s in other_run) and other != first
    assert evotor_app.extensions[EXTENSION_KEY].hits >= 1


def test_a_refresh_that_changes_a_price_shows_at_once(evotor_app, sandbox, web, refreshed):
    """A price changed at the till reaches the page with the next refresh (the refresh renews the store's token);
    an unchanged refresh keeps the cached page valid."""
    a, milk = refreshed.stores["a"], refreshed.products["milk"]
    assert "89.90" in row_of(page(web, a), milk)
    assert refresh_catalog(refreshed.user.id).ok  # nothing changed
    with statements() as run:
        page(web, a)
    assert not any("cached_products" in s for s in run)
    sandbox.evotor.update_product(refreshed.token, a, milk, price=95.5)
    assert refresh_catalog(refreshed.user.id).ok
    assert "95.50" in row_of(page(web, a), milk)


def test_a_product_removed_in_evotor_leaves_the_page(evotor_app, sandbox, web, refreshed):
    a, milk = refreshed.stores["a"], refreshed.products["milk"]
    assert f'data-product-id="{milk}"' in page(web, a, "?q=Молоко")
    sandbox.evotor.remove_product(refreshed.token, a, milk)
    assert refresh_catalog(refreshed.user.id).ok
    assert f'data-product-id="{milk}"' not in page(web, a, "?q=Молоко")


def test_a_catalog_event_shows_at_once(evotor_app, web, refreshed):
    """A signed ProductEvent (Core statements, no ORM flush) renews the token: the new price is on the next view."""
    a, milk = refreshed.stores["a"], refreshed.products["milk"]
    evotor_app.config["EVOTOR_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    db.session.execute(
        sa.update(EvotorConnection).filter_by(user_id=refreshed.user.id).values(evotor_user_id="01-000000000000777")
    )
    db.session.commit()
    assert "89.90" in row_of(page(web, a), milk)
    event = {
        "id": "page-cache-ev-1",
        "type": "ProductEvent",
        "action": "updated",
        "payload": {"id": milk, "store_id": a, "user_id": "01-000000000000777", "price": 77.7},
    }
    body = json.dumps(event).encode()
    signature = "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha1).hexdigest()
    resp = evotor_app.test_client().post(
        "/evotor/events/catalog", data=body, headers={"X-Hub-Signature": signature, "Content-Type": "application/json"}
    )
    assert resp.status_code == 200 and resp.get_json()["status"] == "queued"  # applied by the (inline) drainer
    assert "77.70" in row_of(page(web, a), milk)


def test_an_orm_edit_of_a_product_shows_at_once(evotor_app, web, refreshed):
    """Rows changed through the session renew the token on flush (no call needed in that code)."""
    a, milk = refreshed.stores["a"], refreshed.products["milk"]
    assert "Молоко 3,2%" in page(web, a)
    product = db.session.scalar(sa.select(CachedProduct).filter_by(user_id=refreshed.user.id, evotor_id=milk))
    product.name = "Молоко топлёное"
    db.session.commit()
    html = page(web, a)
    assert "Молоко топлёное" in html and "Молоко 3,2%" not in html


def test_sync_links_change_the_vk_column_at_once(evotor_app, web, refreshed):
    """The VK column appears with the first link (of any store) and follows the link's status."""
    a, b, milk = refreshed.stores["a"], refreshed.stores["b"], refreshed.products["milk"]
    assert ">VK<" not in page(web, a) and ">VK<" not in page(web, b)
    link = SyncLink(
        user_id=refreshed.user.id, store_evotor_id=a, evotor_product_id=milk, sku="EVS-0000000000000001",
        group_id=920001, vk_item_id=55, status=LinkStatus.PUBLISHED,
    )  # fmt: skip
    db.session.add(link)
    db.session.commit()
    html = page(web, a)
    assert ">VK<" in html and "published" in row_of(html, milk)
    assert ">VK<" in page(web, b)  # the column is shown once any link exists
    link.status = LinkStatus.ERROR
    link.last_error = "VK refused the photo"
    db.session.commit()
    assert "VK refused the photo" in row_of(page(web, a), milk)
    db.session.delete(link)
    db.session.commit()
    assert "VK refused the photo" not in page(web, a)


def test_each_merchant_sees_their_own_mirror_of_the_same_store(evotor_app, web, refreshed):
    """Two accounts connected to the same Evotor store: each page comes from its owner's rows, never the other's
    cached page."""
    a, milk = refreshed.stores["a"], refreshed.products["milk"]
    assert "Молоко 3,2%" in page(web, a)
    other = make_user(email="b@example.com")
    db.session.add(
        EvotorConnection(
            user_id=other.id, access_token=refreshed.token, state=ConnectionState.CONNECTED, source="manual"
        )
    )
    db.session.commit()
    assert refresh_catalog(other.id).ok
    product = db.session.scalar(sa.select(CachedProduct).filter_by(user_id=other.id, evotor_id=milk))
    product.name = "Молоко у второго"
    db.session.commit()
    second = logged_in_client(evotor_app, other)
    assert "Молоко у второго" in page(second, a)
    assert "Молоко у второго" not in page(web, a) and "Молоко 3,2%" in page(web, a)


def test_the_language_and_a_flashed_message_are_never_mixed_up(evotor_app, web, refreshed):
    """A page cached in English is not served in Russian; a page with a flashed message is neither served from nor
    kept in the cache (the message shows once)."""
    a = refreshed.stores["a"]
    english = page(web, a)
    assert "products in this store" in english
    web.get("/language/ru")
    russian = page(web, a)
    assert russian != english and "products in this store" not in russian
    web.get("/language/en")
    with web.session_transaction() as session:
        session["_flashes"] = [("info", "Сообщение один раз")]
    assert "Сообщение один раз" in page(web, a)
    assert "Сообщение один раз" not in page(web, a)


def test_switched_off_every_view_renders(evotor_app, web, refreshed):
    evotor_app.config["PAGE_CACHE_ENTRIES"] = 0
    evotor_app.extensions[EXTENSION_KEY] = PageCache(0)
    a = refreshed.stores["a"]
    page(web, a)
    with statements() as run:
        page(web, a)
    assert any("cached_products" in s for s in run)


def test_the_cache_is_bounded_by_entries_characters_and_age():
    cache = PageCache(max_entries=2, max_chars=10)
    cache.put("a", "12345")
    cache.put("b", "123")
    assert cache.get("a") == "12345"  # a is now the most recent
    cache.put("c", "1")
    assert cache.get("b") is None and cache.get("a") == "12345" and cache.get("c") == "1"
    cache.put("d", "123456789")  # 9 + 1 characters: a goes
    assert cache.get("a") is None and len(cache) == 2
    cache.put("huge", "x" * 11)  # larger than the whole budget: not kept
    assert cache.get("huge") is None
    stale = PageCache(max_entries=5, max_age=-1)
    stale.put("k", "v")
    assert stale.get("k") is None and len(stale) == 0
    off = PageCache(max_entries=0)
    off.put("k", "v")
    assert off.get("k") is None
