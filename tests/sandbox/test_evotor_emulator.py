"""The Evotor emulator over real HTTP: paging, auth, 402/404/406/429/5xx, since, images, inspection."""

from __future__ import annotations

import io
import re

import pytest
import requests
from PIL import Image

V2 = "application/vnd.evotor.v2+json"
TOKEN = "evotor-token-a"
OTHER_TOKEN = "evotor-token-b"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def get(sb, path: str, token: str | None = TOKEN, accept: str | None = V2, **params) -> requests.Response:
    headers = {"Accept": accept}  # None removes the header requests would add ("*/*")
    if token is not None:
        headers["X-Authorization"] = token
    return requests.get(sb.evotor_url + path, headers=headers, params=params, timeout=10)


def walk(sb, path: str, token: str = TOKEN, **params) -> list[dict]:
    """Every page of a list, following next_cursor; returns the pages' JSON bodies."""
    pages = []
    while True:
        response = get(sb, path, token, **params)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["paging"].get("next_cursor")
        if not cursor:
            return pages
        params = {"cursor": cursor}


@pytest.fixture
def store(sandbox):
    """One account with one store holding 12 products in a small group tree."""
    sandbox.evotor.add_account(TOKEN)
    store = sandbox.evotor.add_store(TOKEN, "Магазин у дома", address="г. Пермь")
    root = sandbox.evotor.add_group(TOKEN, store["id"], "Напитки")
    child = sandbox.evotor.add_group(TOKEN, store["id"], "Соки", parent_id=root["id"])
    for i in range(12):
        sandbox.evotor.add_product(TOKEN, store["id"], f"Сок №{i}", 100 + i, quantity=i + 0.125, parent_id=child["id"])
    return store


def test_products_are_paged_by_opaque_cursor_until_an_empty_paging(sandbox, store):
    """12 products at page size 5 come as 5+5+2 in creation order; the last page has "paging": {}."""
    pages = walk(sandbox, f"/stores/{store['id']}/products")
    assert [len(p["items"]) for p in pages] == [5, 5, 2]
    assert pages[-1]["paging"] == {}
    names = [item["name"] for page in pages for item in page["items"]]
    assert names == [f"Сок №{i}" for i in range(12)]
    cursor = get(sandbox, f"/stores/{store['id']}/products").json()["paging"]["next_cursor"]
    assert not cursor.isdigit()  # opaque, not a bare offset


def test_page_size_is_settable_and_exact_multiple_has_no_trailing_empty_page(sandbox, store):
    """With page size 4 the 12 products come as 4+4+4 and the third page already ends the list."""
    sandbox.evotor.page_size = 4
    pages = walk(sandbox, f"/stores/{store['id']}/products")
    assert [len(p["items"]) for p in pages] == [4, 4, 4]


def test_stores_and_groups_are_paged_lists_too(sandbox, store):
    """GET /stores and /product-groups answer {items, paging}; groups keep their parent links."""
    stores = get(sandbox, "/stores").json()
    assert [s["id"] for s in stores["items"]] == [store["id"]]
    assert stores["paging"] == {}
    assert set(stores["items"][0]) >= {"id", "name", "address", "user_id", "created_at", "updated_at"}
    groups = get(sandbox, f"/stores/{store['id']}/product-groups").json()["items"]
    root, child = groups
    assert root["parent_id"] is None and child["parent_id"] == root["id"]
    assert child["store_id"] == store["id"] and TIMESTAMP.match(child["updated_at"])


def test_product_carries_v2_fields_in_evotor_formats(sandbox, store):
    """A product has snake_case v2 fields, a 3-decimal quantity and Evotor's timestamp format."""
    first = get(sandbox, f"/stores/{store['id']}/products").json()["items"][0]
    assert {
        "id",
        "name",
        "code",
        "barcodes",
        "price",
        "cost_price",
        "quantity",
        "measure_name",
        "tax",
        "allow_to_sell",
        "parent_id",
        "type",
        "store_id",
        "user_id",
        "created_at",
        "updated_at",
    } <= set(first)
    assert first["quantity"] == 0.125 and first["measure_name"] == "шт"
    assert TIMESTAMP.match(first["created_at"]) and TIMESTAMP.match(first["updated_at"])
    assert first["user_id"].startswith("01-")
    single = get(sandbox, f"/stores/{store['id']}/products/{first['id']}").json()
    assert single == first


def test_edits_during_paging_neither_skip_nor_repeat_products(sandbox, store):
    """Removing an already-read product and adding a new one mid-walk keeps the cursor stable."""
    path = f"/stores/{store['id']}/products"
    first = get(sandbox, path).json()
    sandbox.evotor.remove_product(TOKEN, store["id"], first["items"][0]["id"])
    added = sandbox.evotor.add_product(TOKEN, store["id"], "Новинка", 10)
    rest = walk(sandbox, path, cursor=first["paging"]["next_cursor"])
    seen = [i["name"] for i in first["items"]] + [i["name"] for p in rest for i in p["items"]]
    assert seen == [f"Сок №{i}" for i in range(12)] + [added["name"]]


def test_a_cursor_from_before_reset_or_garbage_gives_400_with_violations(sandbox, store):
    """An unusable cursor is a 400 with {code, message, violations[{reason, subject}]}."""
    cursor = get(sandbox, f"/stores/{store['id']}/products").json()["paging"]["next_cursor"]
    response = get(sandbox, f"/stores/{store['id']}/products", cursor="not-a-cursor!")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "violations"}
    assert body["violations"] == [{"reason": "invalid", "subject": "cursor"}]
    assert get(sandbox, f"/stores/{store['id']}/product-groups", cursor=cursor).status_code == 400


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Authorization": "nobody"}, 401),
        ({"X-Authorization": TOKEN}, 200),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
        ({"Authorization": TOKEN}, 401),  # without the Bearer scheme
    ],
)
def test_token_auth(sandbox, store, headers, status):
    """Missing or unknown tokens get 401; X-Authorization and Authorization: Bearer both work."""
    response = requests.get(sandbox.evotor_url + "/stores", headers={"Accept": V2, **headers}, timeout=10)
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == 401


def test_a_revoked_token_gets_401_from_then_on(sandbox, store):
    """revoke_token turns a working token into 401 on every endpoint."""
    assert get(sandbox, "/stores").status_code == 200
    sandbox.evotor.revoke_token(TOKEN)
    assert get(sandbox, "/stores").status_code == 401
    assert get(sandbox, f"/stores/{store['id']}/products").status_code == 401


def test_a_payment_required_store_answers_402_but_is_still_listed(sandbox, store):
    """A store whose app is unpaid answers 402 on its endpoints; other stores keep working."""
    other = sandbox.evotor.add_store(TOKEN, "Второй магазин")
    sandbox.evotor.set_payment_required(store["id"], True)
    for path in ("/products", "/product-groups"):
        assert get(sandbox, f"/stores/{store['id']}{path}").status_code == 402
    assert get(sandbox, f"/stores/{other['id']}/products").status_code == 200
    assert len(get(sandbox, "/stores").json()["items"]) == 2
    sandbox.evotor.set_payment_required(store["id"], False)
    assert get(sandbox, f"/stores/{store['id']}/products").status_code == 200


def test_another_accounts_store_and_unknown_ids_are_404(sandbox, store):
    """A valid token cannot see another account's store: 404, as for an unknown store or product."""
    sandbox.evotor.add_account(OTHER_TOKEN)
    assert get(sandbox, "/stores", token=OTHER_TOKEN).json()["items"] == []
    assert get(sandbox, f"/stores/{store['id']}/products", token=OTHER_TOKEN).status_code == 404
    assert get(sandbox, "/stores/20170228-0000-0000-0000-000000000000/products").status_code == 404
    assert get(sandbox, f"/stores/{store['id']}/products/no-such-product").status_code == 404


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (V2, 200),
        (f"{V2};charset=UTF-8", 200),
        (f"application/json;q=0.5, {V2}", 200),
        (None, 200),  # no Accept header at all: v2
        ("*/*", 406),  # requests' default: the client forgot the media type
        ("application/json", 406),
        ("application/vnd.evotor.v1+json", 406),
    ],
)
def test_accept_header_selects_v2_or_gets_406(sandbox, store, accept, status):
    """Only the v2 media type (or no Accept at all) is served; anything else is 406."""
    assert get(sandbox, "/stores", accept=accept).status_code == status


def test_lenient_accept_mode_tolerates_wildcards(sandbox, store):
    """strict_accept = False lets */* through (for clients that cannot set Accept)."""
    sandbox.evotor.strict_accept = False
    assert get(sandbox, "/stores", accept="*/*").status_code == 200
    assert get(sandbox, "/stores", accept="text/html").status_code == 406


def test_a_pushed_429_carries_retry_after_and_hits_only_the_next_request(sandbox, store):
    """faults.push("429") answers exactly one request with 429 + Retry-After."""
    sandbox.evotor.retry_after_seconds = 7
    sandbox.evotor.faults.push("429")
    limited = get(sandbox, "/stores")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert get(sandbox, "/stores").status_code == 200


def test_a_fault_pushed_for_one_endpoint_waits_for_that_endpoint(sandbox, store):
    """push(kind, method="products") leaves other endpoints alone and fires on the products list."""
    sandbox.evotor.faults.push("503", method="products")
    assert get(sandbox, "/stores").status_code == 200
    assert get(sandbox, f"/stores/{store['id']}/product-groups").status_code == 200
    assert get(sandbox, f"/stores/{store['id']}/products").status_code == 503
    assert get(sandbox, f"/stores/{store['id']}/products").status_code == 200


@pytest.mark.parametrize(("kind", "status"), [("5xx", 500), ("500", 500), ("502", 502), ("timeout", 504)])
def test_pushed_server_errors(sandbox, store, kind, status):
    """Each 5xx fault kind gives its status (timeout after faults.timeout_seconds)."""
    sandbox.evotor.faults.timeout_seconds = 0.01
    sandbox.evotor.faults.push(kind)
    assert get(sandbox, "/stores").status_code == status


def test_random_faults_follow_the_rate_and_replay_with_the_same_seed(sandbox, store):
    """rate=0.5 fails roughly half of 40 requests, and the same seed fails the same ones."""

    def run() -> list[int]:
        sandbox.evotor.faults.configure(rate=0.5, kinds=("5xx", "429"), seed=42)
        return [get(sandbox, "/stores").status_code for _ in range(40)]

    first = run()
    assert set(first) == {200, 429, 500}
    assert 8 <= sum(code != 200 for code in first) <= 32
    assert run() == first
    sandbox.evotor.faults.clear()
    assert get(sandbox, "/stores").status_code == 200


def test_since_returns_only_products_changed_after_it_across_pages(sandbox, store):
    """?since=<ms> lists products with updated_at after it; the cursor keeps the filter on page 2."""
    products = sandbox.evotor.products(store["id"])
    marker = sandbox.evotor.now_ms()  # a moment after every existing change
    changed = [p["id"] for p in products[1:8]]
    for product_id in changed:
        sandbox.evotor.update_product(TOKEN, store["id"], product_id, price=1.5)
    pages = walk(sandbox, f"/stores/{store['id']}/products", since=marker)
    assert [len(p["items"]) for p in pages] == [5, 2]
    assert [i["id"] for p in pages for i in p["items"]] == changed
    assert all(i["price"] == 1.5 for p in pages for i in p["items"])
    nothing = get(sandbox, f"/stores/{store['id']}/products", since=sandbox.evotor.now_ms()).json()
    assert nothing == {"items": [], "paging": {}}


def test_backdated_products_are_older_than_since(sandbox, store):
    """A product whose updated_at is before since is left out; one after it is included."""
    old = sandbox.evotor.add_product(TOKEN, store["id"], "Старый", 1, updated_ms=1_500_000_000_000)
    new = sandbox.evotor.add_product(TOKEN, store["id"], "Новый", 1, updated_ms=1_700_000_000_000)
    assert old["updated_at"] == "2017-07-14T02:40:00.000+0000"
    items = walk(sandbox, f"/stores/{store['id']}/products", since=1_600_000_000_000)
    ids = [i["id"] for p in items for i in p["items"]]
    assert new["id"] in ids and old["id"] not in ids


@pytest.mark.parametrize("since", ["yesterday", "-5"])
def test_a_bad_since_is_a_400_naming_the_parameter(sandbox, store, since):
    """since must be non-negative epoch milliseconds."""
    response = get(sandbox, f"/stores/{store['id']}/products", since=since)
    assert response.status_code == 400
    assert response.json()["violations"][0]["subject"] == "since"


def test_images_are_listed_with_absolute_urls_serving_300x300_pngs(sandbox, store):
    """The images list has id/url/meta/timestamps; each url returns a real 300x300 PNG of file_size bytes."""
    product = sandbox.evotor.products(store["id"])[0]
    for _ in range(7):
        sandbox.evotor.add_image(TOKEN, store["id"], product["id"])
    pages = walk(sandbox, f"/stores/{store['id']}/products/{product['id']}/images")
    images = [i for p in pages for i in p["items"]]
    assert len(pages) == 2 and len(images) == 7
    first = images[0]
    assert first["url"].startswith(sandbox.base_url + "/")
    assert first["meta"] == {"extension": "png", "file_size": first["meta"]["file_size"], "width": 300, "height": 300}
    assert TIMESTAMP.match(first["created_at"])
    download = requests.get(first["url"], timeout=10)
    assert download.status_code == 200 and download.headers["Content-Type"] == "image/png"
    assert len(download.content) == first["meta"]["file_size"]
    picture = Image.open(io.BytesIO(download.content))
    assert picture.format == "PNG" and picture.size == (300, 300)
    assert requests.get(images[1]["url"], timeout=10).content != download.content
    assert sandbox.evotor.stats["image_downloads"] == 2


def test_the_documentation_shape_of_the_images_list_is_available(sandbox, store):
    """images_list_shape = "bare" answers a bare array with camelCase keys, as the docs page shows."""
    product = sandbox.evotor.products(store["id"])[0]
    sandbox.evotor.add_image(TOKEN, store["id"], product["id"])
    sandbox.evotor.images_list_shape = "bare"
    body = get(sandbox, f"/stores/{store['id']}/products/{product['id']}/images").json()
    assert isinstance(body, list) and set(body[0]) == {"id", "url", "meta", "createdAt", "updatedAt"}
    assert body[0]["meta"]["fileSize"] > 0


def test_given_png_bytes_are_served_unchanged_and_unknown_image_is_404(sandbox, store):
    """add_image(png_bytes=...) serves exactly those bytes; an unknown image file is 404."""
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300), (1, 2, 3)).save(buffer, format="PNG")
    product = sandbox.evotor.products(store["id"])[0]
    image = sandbox.evotor.add_image(TOKEN, store["id"], product["id"], png_bytes=buffer.getvalue())
    assert requests.get(image["url"], timeout=10).content == buffer.getvalue()
    assert requests.get(sandbox.base_url + "/files/evotor/nope.png", timeout=10).status_code == 404


def test_removing_a_product_removes_its_images(sandbox, store):
    """A removed product is 404 and its image files are gone."""
    product = sandbox.evotor.products(store["id"])[0]
    image = sandbox.evotor.add_image(TOKEN, store["id"], product["id"])
    sandbox.evotor.remove_product(TOKEN, store["id"], product["id"])
    assert get(sandbox, f"/stores/{store['id']}/products/{product['id']}").status_code == 404
    assert requests.get(image["url"], timeout=10).status_code == 404


def test_stats_and_request_log_count_every_answer(sandbox, store):
    """stats counts requests, errors, statuses and routes; the log keeps method/path/status."""
    get(sandbox, "/stores")
    get(sandbox, "/stores", token="bad")
    get(sandbox, f"/stores/{store['id']}/products", since=5)
    stats = sandbox.evotor.stats
    assert stats["requests"] == 3 and stats["errors"] == 1
    assert stats["by_status"] == {"200": 2, "401": 1}
    assert stats["paths"] == {"GET /stores": 2, "GET /stores/{store_id}/products": 1}
    last = sandbox.evotor.logged_requests()[-1]
    assert last["status"] == 200 and last["path"].endswith("/products?since=5")


def test_seeded_catalog_is_served_with_modification_groups_and_oddities(sandbox):
    """seed_catalog fills stores from datagen: variants point at a group with attributes; oddities appear."""
    summary = sandbox.evotor.seed_catalog(TOKEN, 400, n_stores=2, seed=3, with_images_ratio=0.3)
    assert len(summary["stores"]) == 2 and summary["products"] == 800 and summary["images"] > 0
    store_id = summary["stores"][0]
    sandbox.evotor.page_size = 100
    groups = [g for p in walk(sandbox, f"/stores/{store_id}/product-groups") for g in p["items"]]
    products = [i for p in walk(sandbox, f"/stores/{store_id}/products") for i in p["items"]]
    assert len(products) == 400
    modification = next(g for g in groups if g.get("attributes"))
    variants = [p for p in products if p["parent_id"] == modification["id"]]
    assert variants and all(
        set(v["attributes_choices"]) == {a["id"] for a in modification["attributes"]} for v in variants
    )
    assert any(len(p["name"]) == 2 for p in products)
    assert any(p["price"] == 0 for p in products)
    assert any(p["quantity"] < 0 for p in products)
    assert any(not p["allow_to_sell"] for p in products)
    with_images = next(p for p in products if sandbox.evotor.images(store_id, p["id"]))
    images = get(sandbox, f"/stores/{store_id}/products/{with_images['id']}/images").json()["items"]
    assert requests.get(images[0]["url"], timeout=10).status_code == 200
