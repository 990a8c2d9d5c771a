"""The VK API emulator over real HTTP: auth, rate limit, market rules, photos, albums, faults, stats."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests
from PIL import Image

from evosync.sandbox.images import render_png

GID = 101
OWNER = -GID
ADMIN = "tok-admin"
OTHER = "tok-other"


@pytest.fixture
def sb(sandbox):
    """A community 101 with market, administered by ADMIN; OTHER is a plain user; limit off."""
    sandbox.vk.add_user(ADMIN)
    sandbox.vk.add_user(OTHER)
    sandbox.vk.add_community(GID, "Тестовый магазин", admin_tokens=(ADMIN,), screen_name="testshop")
    sandbox.vk.rate_limit_enabled = False
    return sandbox


def api(sb, method: str, token: str | None = ADMIN, v: str | None = "5.199", **params) -> dict:
    data = {k: str(val) for k, val in params.items()}
    if token is not None:
        data["access_token"] = token
    if v is not None:
        data["v"] = v
    response = requests.post(f"{sb.vk_url}/{method}", data=data, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def ok(sb, method: str, **params):
    body = api(sb, method, **params)
    assert "response" in body, body
    return body["response"]


def err(sb, method: str, **params) -> dict:
    body = api(sb, method, **params)
    assert "error" in body, body
    return body["error"]


def image_bytes(key: str, size: int = 400, fmt: str = "PNG") -> bytes:
    if fmt == "PNG":
        return render_png(key, size)
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(out, format=fmt)
    return out.getvalue()


def upload(sb, data: bytes, group_id: int = GID, token: str = ADMIN) -> dict:
    server = ok(sb, "market.getProductPhotoUploadServer", token=token, group_id=group_id)
    response = requests.post(server["upload_url"], files={"file": ("p.png", data)}, timeout=10)
    assert response.status_code == 200
    return response.json()


def new_photo(sb, key: str = "p", group_id: int = GID, token: str = ADMIN) -> int:
    uploaded = upload(sb, image_bytes(key), group_id, token)
    saved = ok(sb, "market.saveProductPhoto", token=token, upload_response=json.dumps(uploaded))
    return saved["photo_id"]


def item_params(sb, **overrides) -> dict:
    params = {
        "owner_id": OWNER,
        "name": "Кофе зерновой",
        "description": "Арабика, 250 г, свежая обжарка",
        "category_id": 700,
        "price": "199.90",
    }
    params.update(overrides)
    if "main_photo_id" not in params:
        params["main_photo_id"] = new_photo(sb, key=params["name"])
    return {k: v for k, v in params.items() if v is not None}


def add_item(sb, **overrides) -> int:
    return ok(sb, "market.add", **item_params(sb, **overrides))["market_item_id"]


# ---------------------------------------------------------------- transport and auth
def test_missing_v_is_error_8(sb):
    """A request without `v` is refused with error 8, as VK does."""
    error = err(sb, "groups.getById", v=None, group_id=GID)
    assert error["error_code"] == 8


def test_token_checks_give_error_5(sb):
    """No token, an unknown token, a revoked token and an expired token all answer error 5."""
    assert err(sb, "groups.getById", token=None, group_id=GID)["error_code"] == 5
    assert err(sb, "groups.getById", token="nope", group_id=GID)["error_code"] == 5
    sb.vk.add_user("short-lived", expires_in=3600)
    assert ok(sb, "groups.getById", token="short-lived", group_id=GID)["groups"][0]["id"] == GID
    sb.vk.expire_token("short-lived")
    assert err(sb, "groups.getById", token="short-lived", group_id=GID)["error_code"] == 5
    sb.vk.revoke_token(OTHER)
    assert err(sb, "groups.getById", token=OTHER, group_id=GID)["error_code"] == 5


def test_error_carries_request_params_but_not_the_token(sb):
    """The error object echoes request_params (method, v, the params) and never the access token."""
    error = err(sb, "market.get", owner_id=GID)
    assert error["error_code"] == 100
    keys = {p["key"]: p["value"] for p in error["request_params"]}
    assert keys["method"] == "market.get" and keys["owner_id"] == str(GID) and keys["v"] == "5.199"
    assert "access_token" not in keys
    assert ADMIN not in json.dumps(error)


def test_unknown_method_is_error_3_and_get_query_works(sb):
    """An unknown method answers error 3; GET with query params works like POST."""
    assert err(sb, "market.frobnicate")["error_code"] == 3
    response = requests.get(
        f"{sb.vk_url}/groups.getById", params={"access_token": ADMIN, "v": "5.199", "group_id": GID}, timeout=5
    )
    assert response.json()["response"]["groups"][0]["id"] == GID


def test_rate_limit_three_per_second_per_token(sb):
    """The 4th request within 1 s gets error 6; another token is unaffected; after 1 s it passes again."""
    sb.vk.rate_limit_enabled = True
    started = time.monotonic()
    for _ in range(3):
        ok(sb, "groups.getById", group_id=GID)
    assert err(sb, "groups.getById", group_id=GID)["error_code"] == 6
    ok(sb, "groups.getById", token=OTHER, group_id=GID)
    time.sleep(max(0.0, 1.05 - (time.monotonic() - started)))
    ok(sb, "groups.getById", group_id=GID)
    assert sb.vk.stats["errors"]["6"] == 1


# ---------------------------------------------------------------- groups
def test_groups_get_by_id_shapes(sb):
    """groups.getById answers the 5.199 shape for an id or a screen_name; market only with fields=market."""
    by_id = ok(sb, "groups.getById", group_id=GID, fields="market")
    assert by_id["profiles"] == []
    group = by_id["groups"][0]
    assert group["name"] == "Тестовый магазин" and group["screen_name"] == "testshop"
    assert group["is_admin"] == 1 and group["admin_level"] == 3 and group["market"] == {"enabled": 1}
    by_name = ok(sb, "groups.getById", group_id="testshop")["groups"][0]
    assert by_name["id"] == GID and "market" not in by_name
    other = ok(sb, "groups.getById", token=OTHER, group_ids=str(GID))["groups"][0]
    assert other["is_admin"] == 0 and "admin_level" not in other
    assert err(sb, "groups.getById", group_id="no_such_group")["error_code"] == 100


# ---------------------------------------------------------------- market access
def test_market_access_rules(sb):
    """Positive owner_id -> 100; a non-admin's write -> 15; a community without market -> 1438."""
    assert err(sb, "market.get", owner_id=GID)["error_code"] == 100
    assert err(sb, "market.addAlbum", token=OTHER, owner_id=OWNER, title="Чай")["error_code"] == 15
    assert ok(sb, "market.get", token=OTHER, owner_id=OWNER)["count"] == 0  # reading a public market is fine
    sb.vk.add_community(202, "Без товаров", admin_tokens=(ADMIN,), market_enabled=False)
    assert err(sb, "market.get", owner_id=-202)["error_code"] == 1438
    assert err(sb, "market.addAlbum", owner_id=-202, title="Чай")["error_code"] == 1438


# ---------------------------------------------------------------- market.add validation
@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Чай"},
        {"name": "x" * 101},
        {"description": "123456789"},
        {"description": None},
        {"category_id": None},
        {"price": None},
        {"price": "-1"},
        {"price": "abc"},
        {"sku": "s" * 51},
        {"stock_amount": "1000000"},
        {"stock_amount": "-2"},
        {"stock_amount": "1.5"},
        {"main_photo_id": None},
        {"photo_ids": "1,2,3,4,5"},
        {"deleted": "2"},
    ],
    ids=lambda o: ",".join(f"{k}={str(v)[:12]}" for k, v in o.items()),
)
def test_market_add_validation_errors(sb, overrides):
    """Each invalid or missing market.add field is refused with error 100 and nothing is created."""
    params = item_params(sb, **{k: v for k, v in overrides.items() if k != "main_photo_id"})
    if "main_photo_id" in overrides:
        params.pop("main_photo_id")
    error = err(sb, "market.add", **params)
    assert error["error_code"] == 100
    assert error["error_msg"].startswith("One of the parameters specified was missing or invalid")
    assert sb.vk.items(GID) == []


def test_market_add_accepts_the_boundaries(sb):
    """Name of 4 and 100 chars, a 10-char description, sku of 50, stock -1 and 999999 are all fine."""
    add_item(sb, name="Чайн", description="0123456789", sku="s" * 50, stock_amount="-1")
    add_item(sb, name="n" * 100, stock_amount="999999", price="0")
    stored = sb.vk.items(GID)
    assert [i["stock_amount"] for i in stored] == [-1, 999999]
    assert stored[1]["price"] == "0"


def test_price_is_rubles_in_and_kopecks_out(sb):
    """Price params are rubles (decimals allowed); answers carry amount in kopecks as a string."""
    add_item(sb, name="Первый товар", price="199.90", old_price="250")
    add_item(sb, name="Второй товар", price="5")
    items = {i["title"]: i for i in ok(sb, "market.get", owner_id=OWNER)["items"]}
    first = items["Первый товар"]["price"]
    assert first["amount"] == "19990" and first["old_amount"] == "25000"
    assert first["currency"] == {"id": 643, "name": "RUB", "title": "Rub"}
    assert first["text"] == "199.90 ₽"
    assert items["Второй товар"]["price"]["amount"] == "500"
    assert [i["price"] for i in sb.vk.items(GID)] == ["19990", "500"]


def test_item_answer_fields(sb):
    """market.get items carry id, owner_id, title, description, category with section, availability, sku."""
    item_id = add_item(sb, sku="EVO-1", category_id=700)
    item = ok(sb, "market.get", owner_id=OWNER)["items"][0]
    assert item["id"] == item_id and item["owner_id"] == OWNER
    assert item["category"] == {"id": 700, "name": "Продукты", "section": {"id": 10007, "name": "Продукты питания"}}
    assert item["availability"] == 0 and item["sku"] == "EVO-1"
    assert item["thumb_photo"].startswith(sb.base_url)


# ---------------------------------------------------------------- photos
def test_one_photo_serves_one_item(sb):
    """A photo id attached to one item is refused for another (100) but stays fine for its own item."""
    photo = new_photo(sb, "shared")
    first = add_item(sb, name="Первый товар", main_photo_id=photo)
    error = err(sb, "market.add", **item_params(sb, name="Второй товар", main_photo_id=photo))
    assert error["error_code"] == 100
    assert "photo not found or already assigned to another item" in error["error_msg"]
    extra = new_photo(sb, "extra")
    assert (
        err(sb, "market.add", **item_params(sb, name="Третий товар", photo_ids=f"{extra},{photo}"))["error_code"] == 100
    )
    assert ok(sb, "market.edit", owner_id=OWNER, item_id=first, main_photo_id=photo, photo_ids=extra) == 1
    assert sb.vk.photos[photo] == first and sb.vk.photos[extra] == first
    assert err(sb, "market.add", **item_params(sb, name="Четвёртый", main_photo_id=999))["error_code"] == 100


def test_photo_of_another_community_is_refused(sb):
    """A photo uploaded for community 202 cannot illustrate an item of community 101."""
    sb.vk.add_community(202, "Второй", admin_tokens=(ADMIN,))
    foreign = new_photo(sb, "foreign", group_id=202)
    assert err(sb, "market.add", **item_params(sb, main_photo_id=foreign))["error_code"] == 100


def test_upload_checks_the_image(sb):
    """The upload server refuses non-images and images under 400x400, accepts JPG/PNG/GIF of 400x400."""
    assert "error" in upload(sb, b"not an image at all")
    small = upload(sb, image_bytes("small", size=300))
    assert "ERR_UPLOAD_BAD_IMAGE_SIZE" in small["error"]
    for fmt in ("PNG", "JPEG", "GIF"):
        good = upload(sb, image_bytes("ok", fmt=fmt))
        assert "error" not in good, fmt
    assert sb.vk.stats["uploads"] == 5
    # passing an upload error on to saveProductPhoto fails with 100
    assert err(sb, "market.saveProductPhoto", upload_response=json.dumps(small))["error_code"] == 100


def test_save_product_photo_once_and_serve_it(sb):
    """saveProductPhoto returns photo_id + photo; saving the same upload twice fails; the URL serves bytes."""
    data = image_bytes("served")
    uploaded = json.dumps(upload(sb, data))
    saved = ok(sb, "market.saveProductPhoto", upload_response=uploaded)
    assert saved["photo"]["id"] == saved["photo_id"] and saved["photo"]["owner_id"] == OWNER
    assert err(sb, "market.saveProductPhoto", upload_response=uploaded)["error_code"] == 100
    served = requests.get(saved["photo"]["sizes"][0]["url"], timeout=5)
    assert served.status_code == 200 and served.content == data
    assert sb.vk.photos[saved["photo_id"]] is None


def test_photos_of_one_content_are_kept_once_and_each_served(sb):
    """A fleet uploads one default photo for thousands of items: two photos, one copy of the bytes, both served."""
    first, second, other = image_bytes("default"), image_bytes("default"), image_bytes("own")
    saved = [
        ok(sb, "market.saveProductPhoto", upload_response=json.dumps(upload(sb, data)))
        for data in (first, second, other)
    ]
    assert len({s["photo_id"] for s in saved}) == 3
    assert len(sb.vk._photo_files) == 2  # the emulator's memory is what this guards
    for entry, data in zip(saved, (first, second, other), strict=True):
        assert requests.get(entry["photo"]["sizes"][0]["url"], timeout=5).content == data


def test_communities_items_stay_apart(sb):
    """Items are indexed per community: each market lists, counts and limits only its own."""
    sb.vk.add_community(202, "Второй", admin_tokens=(ADMIN,))
    ours = [add_item(sb, name=f"Товар {n}") for n in range(3)]
    theirs = add_item(sb, owner_id=-202, main_photo_id=new_photo(sb, "t", group_id=202), name="Чужой товар")
    assert [i["id"] for i in ok(sb, "market.get", owner_id=OWNER)["items"]] == ours[::-1]
    assert [i["id"] for i in ok(sb, "market.get", owner_id=-202)["items"]] == [theirs]
    assert [i["id"] for i in sb.vk.items(GID)] == ours
    sb.vk.set_limits(202, max_items=1)
    assert (
        err(sb, "market.add", **item_params(sb, owner_id=-202, main_photo_id=new_photo(sb, "u", 202)))["error_code"]
        == 1405
    )
    add_item(sb, name="Ещё один наш")  # the other community's limit is not ours


def test_upload_server_needs_positive_group_id_and_admin(sb):
    """getProductPhotoUploadServer wants a positive group_id (100) of a community the user runs (15)."""
    assert err(sb, "market.getProductPhotoUploadServer", group_id=OWNER)["error_code"] == 100
    assert err(sb, "market.getProductPhotoUploadServer", token=OTHER, group_id=GID)["error_code"] == 15


def test_legacy_market_photo_flow(sb):
    """photos.getMarketUploadServer + photos.saveMarketPhoto give a photo usable in market.add."""
    server = ok(sb, "photos.getMarketUploadServer", group_id=GID, main_photo=1)
    uploaded = requests.post(server["upload_url"], files={"file": ("a.png", image_bytes("legacy"))}, timeout=5)
    fields = uploaded.json()
    saved = ok(
        sb,
        "photos.saveMarketPhoto",
        group_id=GID,
        photo=fields["photo"],
        server=fields["server"],
        hash=fields["hash"],
    )
    assert isinstance(saved, list) and saved[0]["owner_id"] == OWNER
    add_item(sb, main_photo_id=saved[0]["id"])
    assert (
        err(sb, "photos.saveMarketPhoto", group_id=GID, photo=fields["photo"], server=1, hash="bad")["error_code"]
        == 100
    )


# ---------------------------------------------------------------- reads
def test_market_get_paging_and_extended(sb):
    """market.get pages newest first with count/offset; albums_ids and photos only with extended=1."""
    ids = [add_item(sb, name=f"Товар номер {n}") for n in range(5)]
    pages = [ok(sb, "market.get", owner_id=OWNER, count=2, offset=off) for off in (0, 2, 4)]
    assert all(page["count"] == 5 for page in pages)
    assert [i["id"] for page in pages for i in page["items"]] == ids[::-1]
    plain = pages[0]["items"][0]
    assert "albums_ids" not in plain and "photos" not in plain
    rich = ok(sb, "market.get", owner_id=OWNER, count=1, extended=1)["items"][0]
    assert rich["albums_ids"] == [] and rich["photos"][0]["id"] == sb.vk.items(GID)[-1]["main_photo_id"]
    assert err(sb, "market.get", owner_id=OWNER, count=201)["error_code"] == 100


def test_market_get_by_id(sb):
    """market.getById takes "-gid_itemid" ids (<= 100), skips unknown ones and refuses malformed ones."""
    first = add_item(sb, name="Первый товар")
    got = ok(sb, "market.getById", item_ids=f"{OWNER}_{first},{OWNER}_999999", extended=1)
    assert got["count"] == 1 and got["items"][0]["id"] == first and "albums_ids" in got["items"][0]
    assert err(sb, "market.getById", item_ids=",".join(f"{OWNER}_{n}" for n in range(101)))["error_code"] == 100
    assert err(sb, "market.getById", item_ids="garbage")["error_code"] == 100


def test_categories_tree(sb):
    """market.getCategories answers a tree of sections with children."""
    tree = ok(sb, "market.getCategories")
    assert tree["count"] == len(tree["items"]) > 0
    assert all(section["children"] for section in tree["items"])
    assert any(child["id"] == 700 for section in tree["items"] for child in section["children"])


# ---------------------------------------------------------------- delete / restore / availability
def test_delete_restore_and_item_not_found(sb):
    """Deleted items leave market.get, answer 1403 to edit, show availability 1 by id, and can be restored."""
    item_id = add_item(sb)
    assert ok(sb, "market.delete", owner_id=OWNER, item_id=item_id) == 1
    assert ok(sb, "market.get", owner_id=OWNER)["count"] == 0
    assert ok(sb, "market.getById", item_ids=f"{OWNER}_{item_id}")["items"][0]["availability"] == 1
    assert sb.vk.items(GID)[0]["deleted"] is True
    assert err(sb, "market.edit", owner_id=OWNER, item_id=item_id, name="Новое имя")["error_code"] == 1403
    assert err(sb, "market.delete", owner_id=OWNER, item_id=item_id)["error_code"] == 1403
    assert ok(sb, "market.restore", owner_id=OWNER, item_id=item_id) == 1
    assert err(sb, "market.restore", owner_id=OWNER, item_id=item_id)["error_code"] == 1518
    assert ok(sb, "market.get", owner_id=OWNER)["items"][0]["availability"] == 0
    assert err(sb, "market.edit", owner_id=OWNER, item_id=424242, name="Новое имя")["error_code"] == 1403
    sb.vk.remove_item_by_hand(GID, item_id)
    assert err(sb, "market.edit", owner_id=OWNER, item_id=item_id, price="1")["error_code"] == 1403


def test_unavailable_flag_keeps_item_listed(sb):
    """deleted=1 on add/edit makes an item unavailable (availability 2), still returned by market.get."""
    item_id = add_item(sb, deleted=1)
    assert ok(sb, "market.get", owner_id=OWNER)["items"][0]["availability"] == 2
    ok(sb, "market.edit", owner_id=OWNER, item_id=item_id, deleted=0, price="10.5")
    item = ok(sb, "market.get", owner_id=OWNER)["items"][0]
    assert item["availability"] == 0 and item["price"]["amount"] == "1050"


def test_edit_validates_like_add(sb):
    """market.edit refuses a too short name and keeps the item unchanged."""
    item_id = add_item(sb, name="Исходное имя")
    assert err(sb, "market.edit", owner_id=OWNER, item_id=item_id, name="abc")["error_code"] == 100
    assert sb.vk.items(GID)[0]["title"] == "Исходное имя"


def test_item_limit_1405(sb):
    """With a cap of 1 item per community, the second market.add answers 1405."""
    sb.vk.set_limits(GID, max_items=1)
    add_item(sb, name="Первый товар")
    assert err(sb, "market.add", **item_params(sb, name="Второй товар"))["error_code"] == 1405


# ---------------------------------------------------------------- albums
def test_album_rules(sb):
    """addAlbum/getAlbums/addToAlbum/removeFromAlbum/editAlbum/deleteAlbum and errors 1402/1403/1404."""
    item_a = add_item(sb, name="Первый товар")
    item_b = add_item(sb, name="Второй товар")
    album = ok(sb, "market.addAlbum", owner_id=OWNER, title="Кофе")
    assert album["albums_count"] == 1
    album_id = album["market_album_id"]
    assert ok(sb, "market.addToAlbum", owner_id=OWNER, item_ids=f"{item_a},{item_b}", album_ids=album_id) == 1
    assert err(sb, "market.addToAlbum", owner_id=OWNER, item_ids=item_a, album_ids=album_id)["error_code"] == 1404
    assert err(sb, "market.addToAlbum", owner_id=OWNER, item_ids=item_a, album_ids=777)["error_code"] == 1402
    assert err(sb, "market.addToAlbum", owner_id=OWNER, item_ids=31337, album_ids=album_id)["error_code"] == 1403
    albums = ok(sb, "market.getAlbums", owner_id=OWNER)
    assert albums["count"] == 1 and albums["items"][0]["count"] == 2 and albums["items"][0]["title"] == "Кофе"
    in_album = ok(sb, "market.get", owner_id=OWNER, album_id=album_id, extended=1)["items"]
    assert {i["id"] for i in in_album} == {item_a, item_b} and in_album[0]["albums_ids"] == [album_id]
    assert ok(sb, "market.removeFromAlbum", owner_id=OWNER, item_id=item_a, album_ids=album_id) == 1
    assert ok(sb, "market.getAlbums", owner_id=OWNER)["items"][0]["count"] == 1
    assert ok(sb, "market.editAlbum", owner_id=OWNER, album_id=album_id, title="Кофе и чай") == 1
    assert err(sb, "market.editAlbum", owner_id=OWNER, album_id=777, title="Нет")["error_code"] == 1402
    assert ok(sb, "market.deleteAlbum", owner_id=OWNER, album_id=album_id) == 1
    assert err(sb, "market.get", owner_id=OWNER, album_id=album_id)["error_code"] == 1402
    assert all(i["albums_ids"] == [] for i in sb.vk.items(GID))
    assert err(sb, "market.getAlbums", owner_id=OWNER, count=101)["error_code"] == 100


def test_album_limits_1406_and_1407(sb):
    """Caps of 1 album and 1 item per album give 1407 and 1406."""
    sb.vk.set_limits(GID, max_albums=1, max_items_in_album=1)
    album_id = ok(sb, "market.addAlbum", owner_id=OWNER, title="Один")["market_album_id"]
    assert err(sb, "market.addAlbum", owner_id=OWNER, title="Два")["error_code"] == 1407
    item_a = add_item(sb, name="Первый товар")
    item_b = add_item(sb, name="Второй товар")
    ok(sb, "market.addToAlbum", owner_id=OWNER, item_ids=item_a, album_ids=album_id)
    assert err(sb, "market.addToAlbum", owner_id=OWNER, item_ids=item_b, album_ids=album_id)["error_code"] == 1406


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("kind", ["6", "9", "10"])
def test_error_faults_reject_the_whole_request(sb, kind):
    """A pushed "6"/"9"/"10" fault answers that VK error and applies nothing."""
    params = item_params(sb)
    sb.vk.faults.push(kind)
    assert err(sb, "market.add", **params)["error_code"] == int(kind)
    assert sb.vk.items(GID) == []
    assert ok(sb, "market.add", **params)["market_item_id"]


def test_5xx_fault_is_an_html_error(sb):
    """A "5xx" fault answers HTTP 500 or 502 with an HTML body and applies nothing."""
    params = item_params(sb)
    sb.vk.faults.push("5xx")
    response = requests.post(f"{sb.vk_url}/market.add", data={**params, "access_token": ADMIN, "v": "5.199"})
    assert response.status_code in (500, 502) and response.headers["Content-Type"].startswith("text/html")
    assert sb.vk.items(GID) == []


@pytest.mark.parametrize("kind", ["timeout", "slow"])
def test_sleeping_faults_answer_late_but_normally(sb, kind):
    """ "timeout" and "slow" sleep for their configured seconds, then answer normally."""
    sb.vk.faults.timeout_seconds = 0.3
    sb.vk.faults.slow_seconds = 0.3
    sb.vk.faults.push(kind)
    started = time.monotonic()
    assert ok(sb, "groups.getById", group_id=GID)["groups"][0]["id"] == GID
    assert time.monotonic() - started >= 0.3


def test_timeout_fault_trips_a_client_timeout_but_applies(sb):
    """A client with a short timeout gives up, yet the write happens (the duplicates case)."""
    params = item_params(sb)
    sb.vk.faults.timeout_seconds = 0.5
    sb.vk.faults.push("timeout", method="market.add")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(f"{sb.vk_url}/market.add", data={**params, "access_token": ADMIN, "v": "5.199"}, timeout=0.2)
    deadline = time.monotonic() + 3
    while not sb.vk.items(GID) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sb.vk.items(GID)) == 1


def test_drop_after_write_applies_then_answers_502(sb):
    """ "drop_after_write" applies the write, then answers 502: the client never learns the item id."""
    params = item_params(sb, sku="EVO-42")
    sb.vk.faults.push("drop_after_write", method="market.add")
    ok(sb, "groups.getById", group_id=GID)  # a fault for market.add leaves other methods alone
    response = requests.post(f"{sb.vk_url}/market.add", data={**params, "access_token": ADMIN, "v": "5.199"})
    assert response.status_code == 502
    assert [i["sku"] for i in sb.vk.items(GID)] == ["EVO-42"]
    assert sb.vk.stats["faults"] == {"drop_after_write": 1}


def test_settle_waits_for_a_write_held_back_by_a_timeout(sb):
    """A "timeout" fault holds the request back; the client gives up, the write lands later: settle() returns
    once it has, and a call fault ("call:9") fails that one call only."""
    params = item_params(sb, sku="EVO-43")
    sb.vk.faults.timeout_seconds = 0.6
    sb.vk.faults.push("timeout", method="market.add")
    with pytest.raises(requests.Timeout):
        requests.post(f"{sb.vk_url}/market.add", data={**params, "access_token": ADMIN, "v": "5.199"}, timeout=0.1)
    assert sb.vk.items(GID) == [], "not landed yet"
    assert sb.vk.settle(timeout=5) is True
    assert [i["sku"] for i in sb.vk.items(GID)] == ["EVO-43"]
    sb.vk.faults.push("call:9", method="groups.getById")
    assert err(sb, "groups.getById", group_id=GID)["error_code"] == 9
    assert ok(sb, "groups.getById", group_id=GID)


def test_random_faults_follow_the_configured_rate(sb):
    """faults.configure(rate=1.0, kinds=("10",)) makes every request fail with 10; clear() stops it."""
    sb.vk.faults.configure(rate=1.0, kinds=("10",), seed=3)
    assert err(sb, "groups.getById", group_id=GID)["error_code"] == 10
    assert err(sb, "market.get", owner_id=OWNER)["error_code"] == 10
    sb.vk.faults.clear()
    assert ok(sb, "market.get", owner_id=OWNER)["count"] == 0


# ---------------------------------------------------------------- stats and reset
def test_stats_counters(sb):
    """requests, calls, writes, uploads, errors by code and per-method counts add up."""
    before = sb.vk.stats
    photo = new_photo(sb)  # 2 requests (server, save), 1 upload, 1 write
    ok(sb, "market.add", **item_params(sb, main_photo_id=photo))  # 1 request, 1 write
    err(sb, "market.get", owner_id=GID)  # 1 request, error 100
    stats = sb.vk.stats
    assert before["requests"] == 0
    assert stats["requests"] == 4 and stats["calls"] == 4
    assert stats["writes"] == 2 and stats["uploads"] == 1
    assert stats["errors"] == {"100": 1}
    assert stats["methods"]["market.add"] == 1 and stats["methods"]["market.saveProductPhoto"] == 1


def test_reset_forgets_everything(sb):
    """reset() drops communities, items, tokens, counters and faults."""
    add_item(sb)
    sb.vk.faults.push("10")
    sb.vk.reset()
    assert sb.vk.stats["requests"] == 0 and sb.vk.faults.pending == []
    assert err(sb, "groups.getById", group_id=GID)["error_code"] == 5


def test_upload_server_fault_only_when_pushed_for_upload(sb):
    """A "5xx" pushed for method "upload" hits the upload server once; the next upload succeeds."""
    server = ok(sb, "market.getProductPhotoUploadServer", group_id=GID)
    sb.vk.faults.push("5xx", method="upload")
    failed = requests.post(server["upload_url"], files={"file": ("p.png", image_bytes("f"))}, timeout=5)
    assert failed.status_code == 502
    again = requests.post(server["upload_url"], files={"file": ("p.png", image_bytes("f"))}, timeout=5)
    assert again.status_code == 200 and "error" not in again.json()
