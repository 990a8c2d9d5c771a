"""The catalog pages through the test client: content, empty states, toggles (form, JSON), CSRF, isolation, search."""

from __future__ import annotations

import re

import sqlalchemy as sa

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, SyncFilter
from evosync.services.evotor_catalog.refresh import refresh_catalog
from evosync.services.evotor_catalog.scope import publishable_scope
from tests.catalog.conftest import connect_merchant
from tests.factories import logged_in_client, make_user


def _html(resp) -> str:
    return resp.get_data(as_text=True)


def test_catalog_redirects_to_stores_and_lists_them_with_counts(web, refreshed):
    """/catalog -> /catalog/stores, which shows both stores, their product counts and a toggle each."""
    resp = web.get("/catalog")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/catalog/stores")
    page = _html(web.get("/catalog/stores"))
    assert "Магазин А" in page and "Магазин Б" in page
    row_a = re.search(rf'data-store-id="{refreshed.stores["a"]}".*?</tr>', page, re.S).group(0)
    assert ">17<" in row_a  # products
    assert f"/catalog/stores/{refreshed.stores['a']}/toggle" in row_a
    assert "table-responsive" in page


def test_groups_page_shows_the_nested_tree_with_toggles(web, refreshed):
    """The group page nests Сыры inside Молочное inside Продукты, each with its toggle form."""
    page = _html(web.get(f"/catalog/stores/{refreshed.stores['a']}/groups"))
    food = page.index("Продукты")
    assert food < page.index("Молочное") < page.index("Сыры")
    for key in ("food", "dairy", "cheese", "drinks"):
        assert f"/groups/{refreshed.groups[key]}/toggle" in page
    assert "This store is turned off" in page


def test_products_are_paginated_filtered_by_group_and_searchable(evotor_app, sandbox, web, refreshed):
    """Pages of 50; group filter includes subgroups; search by name, code and barcode."""
    a = refreshed.stores["a"]
    for i in range(40):
        sandbox.evotor.add_product(refreshed.token, a, f"Печенье {i:02d}", 50, code=f"9{i:03d}")
    assert refresh_catalog(refreshed.user.id).ok
    first = _html(web.get(f"/catalog/stores/{a}/products"))
    assert first.count("data-product-id=") == 50 and "57 products in this store" in first
    assert "Pages" in first and "Page 1 of 2" in first
    second = _html(web.get(f"/catalog/stores/{a}/products?page=2"))
    assert second.count("data-product-id=") == 7
    food = _html(web.get(f"/catalog/stores/{a}/products?group={refreshed.groups['food']}"))
    assert food.count("data-product-id=") == 2 and "Сыр Российский" in food and "Молоко" in food
    by_name = _html(web.get(f"/catalog/stores/{a}/products", query_string={"q": "молоко"}))
    assert by_name.count("data-product-id=") == 1 and f'data-product-id="{refreshed.products["milk"]}"' in by_name
    by_code = _html(web.get(f"/catalog/stores/{a}/products?q=102"))
    assert by_code.count("data-product-id=") == 1 and "Сыр Российский" in by_code
    by_barcode = _html(web.get(f"/catalog/stores/{a}/products?q=2000000000022"))
    assert by_barcode.count("data-product-id=") == 1 and "Сыр Российский" in by_barcode
    wildcard = _html(web.get(f"/catalog/stores/{a}/products", query_string={"q": "%_%"}))  # wildcards are literal
    assert "data-product-id=" not in wildcard and "Nothing matches" in wildcard
    percent = _html(web.get(f"/catalog/stores/{a}/products", query_string={"q": "2%"}))
    assert percent.count("data-product-id=") == 1 and "Молоко 3,2%" in percent


def test_store_toggle_as_a_form_redirects_with_a_message_and_persists(web, refreshed):
    """POST enabled=1 redirects back to the stores page with a flash, and the store becomes publishable."""
    a = refreshed.stores["a"]
    resp = web.post(f"/catalog/stores/{a}/toggle", data={"enabled": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/catalog/stores")
    assert "will be published" in _html(web.get("/catalog/stores"))
    assert publishable_scope(refreshed.user.id).store_ids == {a}
    web.post(f"/catalog/stores/{a}/toggle", data={"enabled": "0"})
    assert publishable_scope(refreshed.user.id).store_ids == frozenset()


def test_group_toggle_from_javascript_answers_json_with_effective_states(web, refreshed):
    """With X-Requested-With the group toggle answers JSON listing the cascade's effective states."""
    a, g = refreshed.stores["a"], refreshed.groups
    web.post(f"/catalog/stores/{a}/toggle", data={"enabled": "1"}, headers={"Accept": "application/json"})
    resp = web.post(
        f"/catalog/stores/{a}/groups/{g['food']}/toggle",
        data={"enabled": "0"},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert resp.status_code == 200 and resp.is_json
    body = resp.get_json()
    assert body["enabled"] is False
    assert body["groups"][g["food"]] is False and body["groups"][g["cheese"]] is False
    assert body["groups"][g["drinks"]] is True
    page = _html(web.get(f"/catalog/stores/{a}/groups"))
    assert "off because a group above is off" in page


def test_toggle_needs_a_clear_value(web, refreshed):
    """A toggle without enabled=0/1 is refused with 400, and nothing is written."""
    resp = web.post(f"/catalog/stores/{refreshed.stores['a']}/toggle", data={})
    assert resp.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0


def test_another_users_ids_answer_404_on_every_route(evotor_app, sandbox, refreshed):
    """User B gets 404 for A's store and group ids on every catalog route, and writes nothing."""
    b = connect_merchant(sandbox, "token-b", "b@example.com")
    client = logged_in_client(evotor_app, b.user)
    a, g = refreshed.stores["a"], refreshed.groups["food"]
    for method, url in [
        ("get", f"/catalog/stores/{a}/groups"),
        ("get", f"/catalog/stores/{a}/products"),
        ("get", f"/catalog/stores/{a}/products?group={g}"),
        ("post", f"/catalog/stores/{a}/toggle"),
        ("post", f"/catalog/stores/{a}/groups/{g}/toggle"),
    ]:
        resp = getattr(client, method)(url, data={"enabled": "1"} if method == "post" else None)
        assert resp.status_code == 404, url
    # A's own group under the right store but a foreign group id for A's other store is 404 too.
    own = logged_in_client(evotor_app, refreshed.user)
    foreign_group = f"/catalog/stores/{refreshed.stores['b']}/groups/{g}/toggle"
    assert own.post(foreign_group, data={"enabled": "0"}).status_code == 404
    assert own.get(f"/catalog/stores/{a}/products?group=nope").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0
    assert "Магазин А" not in _html(client.get("/catalog/stores"))


def test_toggles_need_the_csrf_token(evotor_app, web, refreshed):
    """With CSRF on, a toggle without a token is refused (400) both as a form and as JSON; with it, it works."""
    evotor_app.config["WTF_CSRF_ENABLED"] = True
    a = refreshed.stores["a"]
    assert web.post(f"/catalog/stores/{a}/toggle", data={"enabled": "1"}).status_code == 400
    resp = web.post(
        f"/catalog/stores/{a}/groups/{refreshed.groups['food']}/toggle",
        data={"enabled": "0"},
        headers={"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"},
    )
    assert resp.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0
    page = _html(web.get("/catalog/stores"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = web.post(
        f"/catalog/stores/{a}/toggle",
        data={"enabled": "1"},
        headers={"X-CSRFToken": token, "X-Requested-With": "XMLHttpRequest"},
    )
    assert resp.status_code == 200 and resp.get_json()["enabled"] is True


def test_without_evotor_connection_the_page_says_so_and_links_to_connections(evotor_app):
    """No connection: the page explains and links to /connections; no table."""
    client = logged_in_client(evotor_app, make_user())
    page = _html(client.get("/catalog/stores"))
    assert "Evotor is not connected yet" in page and "/connections" in page
    assert "stores-table" not in page


def test_connected_but_never_refreshed_offers_refresh_now_which_runs_the_job(evotor_app, sandbox, merchant):
    """Before the first refresh the page offers "Refresh now"; posting it runs the job (inline in tests)."""
    client = logged_in_client(evotor_app, merchant.user)
    page = _html(client.get("/catalog/stores"))
    assert "We have not read your catalog yet" in page and "/catalog/refresh" in page
    resp = client.post("/catalog/refresh")
    assert resp.status_code == 302
    page = _html(client.get("/catalog/stores"))
    assert "Магазин А" in page and "We have not read your catalog yet" not in page


def test_refresh_now_when_evotor_fails_answers_the_page_not_an_error(evotor_app, sandbox, merchant):
    """Jobs inline (the demo, tests): an Evotor failure during "Refresh now" is no exception for the page (the job
    raises it only in a worker, where RQ retries); the stores page then says what happened."""
    sandbox.evotor.faults.configure(rate=1.0, kinds=("500",), seed=3)
    client = logged_in_client(evotor_app, merchant.user)
    resp = client.post("/catalog/refresh")
    sandbox.evotor.faults.clear()
    assert resp.status_code == 302
    assert client.get("/catalog/stores").status_code == 200


def test_refresh_now_is_queued_on_the_high_queue_when_jobs_run_in_workers(evotor_app, merchant, redis_url):
    """Outside inline mode, "Refresh now" puts refresh_catalog_job for this user on the high queue."""
    from evosync.queues import HIGH, get_queue

    evotor_app.config["RUN_JOBS_INLINE"] = False
    client = logged_in_client(evotor_app, merchant.user)
    resp = client.post("/catalog/refresh", headers={"Accept": "application/json"})
    assert resp.status_code == 202
    jobs = get_queue(HIGH).jobs
    assert [j.func_name for j in jobs] == ["evosync.jobs.catalog.refresh_catalog_job"]
    assert jobs[0].args == (merchant.user.id,)


def test_broken_connection_shows_the_reason(evotor_app, sandbox, merchant):
    """After a 401 the stores page shows the plain-words reason and a link to fix it."""
    sandbox.evotor.revoke_token(merchant.token)
    refresh_catalog(merchant.user.id)
    assert db.session.scalar(sa.select(EvotorConnection.state)) == ConnectionState.BROKEN
    page = _html(logged_in_client(evotor_app, merchant.user).get("/catalog/stores"))
    assert "reconnect Evotor" in page and "/connections" in page


def test_vk_state_column_appears_once_a_sync_has_left_links(evotor_app, web, refreshed):
    """The products table has no VK column until the merchant's first sync left links; then each product shows
    its link's state, a published one with the link to its VK item."""
    from evosync.extensions import db
    from evosync.models import CachedProduct, LinkStatus, SyncLink

    store = refreshed.stores["b"]
    url = f"/catalog/stores/{store}/products"
    assert ">VK<" not in _html(web.get(url))
    products = db.session.scalars(
        sa.select(CachedProduct).filter_by(user_id=refreshed.user.id, store_evotor_id=store)
    ).all()
    db.session.add_all(
        SyncLink(
            user_id=refreshed.user.id,
            store_evotor_id=store,
            evotor_product_id=product.evotor_id,
            sku=f"sku-{n}",
            group_id=555,
            vk_item_id=9000 + n,
            status=LinkStatus.PUBLISHED,
        )
        for n, product in enumerate(products)
    )
    db.session.commit()
    page = _html(web.get(url))
    assert ">VK<" in page and page.count(">published ↗<") == len(products) == 3
    assert "https://vk.com/market-555?w=product-555_9000" in page


def test_viewing_needs_login(evotor_app):
    """Anonymous visitors are sent to log in."""
    resp = evotor_app.test_client().get("/catalog/stores")
    assert resp.status_code in (302, 401)


def test_saving_an_evotor_token_reads_the_catalog_at_once(app, sandbox):
    """Right after a merchant connects Evotor by hand, the stores page shows the stores (no empty 'wait' page)."""
    from evosync.models import CachedStore
    from tests.factories import logged_in_client, make_user

    app.config.update(EVOTOR_API_URL=sandbox.evotor_url)
    sandbox.evotor.add_account("fresh-evotor-token")
    sandbox.evotor.add_store("fresh-evotor-token", "Магазин у дома")
    user = make_user()
    client = logged_in_client(app, user)
    resp = client.post("/connections/evotor", data={"token": "fresh-evotor-token"})
    assert resp.status_code in (200, 302)
    assert [s.name for s in CachedStore.query.filter_by(user_id=user.id)] == ["Магазин у дома"]


def test_the_stores_total_is_kept_by_the_refresh_and_heals_from_drift(evotor_app, sandbox, web, refreshed):
    """The whole-store total comes from the store's kept count: a refresh raises it for new products, lowers it
    for vanished ones, and resets a count that drifted (here: forced wrong) to the real number of rows."""
    from evosync.models import CachedProduct, CachedStore

    a = refreshed.stores["a"]

    def kept() -> int:
        db.session.expire_all()
        return db.session.scalar(sa.select(CachedStore.product_count).filter_by(evotor_id=a))

    def rows() -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(CachedProduct).filter_by(store_evotor_id=a))

    assert kept() == rows() == 17
    for i in range(3):
        sandbox.evotor.add_product(refreshed.token, a, f"Вафли {i}", 70)
    sandbox.evotor.remove_product(refreshed.token, a, refreshed.products["milk"])
    db.session.execute(sa.update(CachedStore).filter_by(evotor_id=a).values(product_count=999))
    db.session.commit()
    assert "999 products in this store" in _html(web.get(f"/catalog/stores/{a}/products"))
    assert refresh_catalog(refreshed.user.id).ok
    assert kept() == rows() == 19
    assert "19 products in this store" in _html(web.get(f"/catalog/stores/{a}/products"))


def test_group_names_follow_renames_through_the_cache(evotor_app, sandbox, web, refreshed):
    """The products page caches a store's group names per groups_version: a group renamed in Evotor shows its new
    name after the refresh (new version), and an unchanged refresh keeps the version (the cache stays valid)."""
    from evosync.models import CachedStore

    a, food = refreshed.stores["a"], refreshed.groups["food"]

    def version() -> str:
        db.session.expire_all()
        return db.session.scalar(sa.select(CachedStore.groups_version).filter_by(evotor_id=a))

    before = version()
    assert len(before) == 32
    assert ">Продукты<" in _html(web.get(f"/catalog/stores/{a}/products"))
    assert refresh_catalog(refreshed.user.id).ok
    assert version() == before
    sandbox.evotor.update_group(refreshed.token, a, food, name="Еда")
    assert refresh_catalog(refreshed.user.id).ok
    assert version() != before
    page = _html(web.get(f"/catalog/stores/{a}/products"))
    assert ">Еда<" in page and ">Продукты<" not in page
