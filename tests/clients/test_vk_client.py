"""VkClient against the VK emulator over real HTTP: params, typed errors, retries, execute batches, uploads."""

from __future__ import annotations

import io
import logging
import threading

import pytest
import requests
from PIL import Image
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from evosync.clients import errors as e
from evosync.clients.photos import prepare_product_image
from evosync.clients.ratelimit import RateLimiter
from evosync.clients.vk import (
    WRITE_METHODS,
    VkCall,
    VkClient,
    build_execute_code,
    split_execute_response,
    vk_params,
)
from tests.services import free_port

TOKEN = "vk1.a.test-user-token"
GROUP = 700001
OWNER = -GROUP
CATEGORY = 10001


@pytest.fixture
def vk(sandbox):
    """A VK user administering a market-enabled community; the 3 req/s rule is off unless a test wants it."""
    sandbox.vk.add_user(TOKEN)
    sandbox.vk.add_community(GROUP, "Тестовый магазин", admin_tokens=(TOKEN,), screen_name="test_shop")
    sandbox.vk.rate_limit_enabled = False
    return sandbox.vk


def _client(sandbox, token=TOKEN, **kwargs) -> VkClient:
    kwargs.setdefault("backoff", 0.01)
    return VkClient(token, sandbox.vk_url, **kwargs)


def _jpeg(colour=(200, 10, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 300), colour).save(out, "PNG")
    return prepare_product_image(out.getvalue())


def _add_item(client: VkClient, name: str = "Товар для теста", sku: str | None = None) -> int:
    photo_id = client.upload_product_photo(GROUP, _jpeg())
    answer = client.call(
        "market.add",
        owner_id=OWNER,
        name=name,
        description="Описание товара, длинное",
        category_id=CATEGORY,
        price=199.5,
        main_photo_id=photo_id,
        sku=sku,
    )
    return answer["market_item_id"]


# ------------------------------------------------------------------------------------------- pure parts


def test_params_are_flattened_as_vk_wants():
    """Lists become comma-separated strings, bools 1/0, None is dropped, numbers stay numbers."""
    assert vk_params({"item_ids": [1, 2, 3], "extended": True, "deleted": False, "sku": None, "price": 10.5}) == {
        "item_ids": "1,2,3",
        "extended": 1,
        "deleted": 0,
        "price": 10.5,
    }


def test_execute_code_is_generated_exactly():
    """The VKScript is ``return [API.m({json}),...];`` with compact, non-escaped JSON."""
    calls = [
        VkCall("market.add", {"owner_id": -1, "name": "Чай «Пуэр»", "photo_ids": [5, 6], "deleted": False}),
        VkCall("market.edit", {"owner_id": -1, "item_id": 7, "description": 'a "quoted"\nline', "url": None}),
    ]
    assert build_execute_code(calls) == (
        'return [API.market.add({"owner_id":-1,"name":"Чай «Пуэр»","photo_ids":"5,6","deleted":0}),'
        'API.market.edit({"owner_id":-1,"item_id":7,"description":"a \\"quoted\\"\\nline"})];'
    )


def test_execute_code_refuses_bad_batches():
    """No empty batch, no more than 25 calls, no method name that could inject code."""
    with pytest.raises(ValueError):
        build_execute_code([])
    with pytest.raises(ValueError):
        build_execute_code([VkCall("market.get", {})] * 26)
    with pytest.raises(ValueError):
        build_execute_code([VkCall("market.get({});API.market.delete", {})])


def test_false_results_take_execute_errors_in_order():
    """The i-th ``false`` gets the i-th execute_errors entry; a ``false`` without one is a generic error."""
    calls = [VkCall("market.edit", {}, tag=i) for i in range(5)]
    errors = [
        {"method": "market.edit", "error_code": 1403, "error_msg": "Item not found"},
        {"method": "market.edit", "error_code": 100, "error_msg": "bad price"},
    ]
    results = split_execute_response(calls, [1, False, 0, False, False], errors)
    assert [r.ok for r in results] == [True, False, True, False, False]
    assert results[2].value == 0  # a 0 result is a value, not a failure
    assert isinstance(results[1].error, e.VkItemNotFound)
    assert isinstance(results[3].error, e.VkInvalidParam) and results[3].error.message == "bad price"
    assert type(results[4].error) is e.VkApiError
    assert [r.call.tag for r in results] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError):
        split_execute_response(calls, [1, 1], [])


@pytest.mark.parametrize(
    ("code", "cls", "retryable"),
    [
        (5, e.VkAuthError, False),
        (6, e.VkTooManyRequests, True),
        (9, e.VkFloodControl, False),
        (29, e.VkFloodControl, False),
        (10, e.VkInternalError, True),
        (14, e.VkCaptchaNeeded, False),
        (15, e.VkAccessDenied, False),
        (200, e.VkAccessDenied, False),
        (203, e.VkAccessDenied, False),
        (205, e.VkAccessDenied, False),
        (100, e.VkInvalidParam, False),
        (1402, e.VkAlbumNotFound, False),
        (1403, e.VkItemNotFound, False),
        (1404, e.VkAlreadyInAlbum, False),
        (1405, e.VkLimitReached, False),
        (1406, e.VkLimitReached, False),
        (1407, e.VkLimitReached, False),
        (1408, e.VkBadLinks, False),
        (1438, e.VkMarketDisabled, False),
        (777, e.VkApiError, False),
    ],
)
def test_error_factory_maps_every_code(code, cls, retryable):
    """vk_error_for gives the right class and retryability for each code VK documents."""
    error = e.vk_error_for(code, "msg", "market.add")
    assert type(error) is cls
    assert (error.code, error.message, error.method, error.retryable) == (code, "msg", "market.add", retryable)


def test_write_methods_cover_every_market_write():
    """Every state-changing method the sync uses is in the one WRITE_METHODS set; reads are not."""
    for method in (
        "market.add",
        "market.edit",
        "market.delete",
        "market.restore",
        "market.addAlbum",
        "market.editAlbum",
        "market.deleteAlbum",
        "market.addToAlbum",
        "market.removeFromAlbum",
        "market.saveProductPhoto",
        "photos.saveMarketPhoto",
    ):
        assert method in WRITE_METHODS
    assert not {"market.get", "market.getAlbums", "groups.getById", "execute"} & WRITE_METHODS


# ------------------------------------------------------------------------------------------- over HTTP


def test_reads_against_the_emulator(sandbox, vk):
    """get_group by id and screen name, get_categories, and requests_made matching the emulator's count."""
    client = _client(sandbox)
    assert client.get_group(GROUP)["name"] == "Тестовый магазин"
    assert client.get_group("test_shop")["id"] == GROUP
    categories = client.get_categories()
    assert categories and {"id", "name"} <= set(categories[0])
    assert client.requests_made == sandbox.vk.stats["requests"] == 3


def test_items_and_albums_are_read_over_offset_pages(sandbox, vk):
    """iter_items/iter_albums walk every page (small counts force several)."""
    client = _client(sandbox)
    made = {_add_item(client, f"Товар {i:02d}") for i in range(5)}
    for i in range(5):
        client.call("market.addAlbum", owner_id=OWNER, title=f"Подборка {i}")
    before = client.requests_made
    items = list(client.iter_items(OWNER, count=2))
    assert {i["id"] for i in items} == made and len(items) == 5
    assert "photos" in items[0]  # extended
    albums = list(client.iter_albums(OWNER, count=2))
    assert [a["title"] for a in albums] == [f"Подборка {i}" for i in range(5)]
    assert client.requests_made - before == 6  # 3 pages each


@pytest.mark.parametrize(
    ("setup", "call", "cls", "code"),
    [
        ("revoke", ("groups.getById", {"group_id": GROUP}), e.VkAuthError, 5),
        ("none", ("market.nonexistent", {}), e.VkUnknownMethod, 3),
        ("foreign", ("market.addAlbum", {"owner_id": -700002, "title": "x"}), e.VkAccessDenied, 15),
        ("closed", ("groups.getById", {"group_id": 700003}), e.VkAccessDenied, 203),
        ("none", ("market.addAlbum", {"owner_id": OWNER, "title": ""}), e.VkInvalidParam, 100),
        ("none", ("market.editAlbum", {"owner_id": OWNER, "album_id": 999, "title": "x"}), e.VkAlbumNotFound, 1402),
        ("none", ("market.edit", {"owner_id": OWNER, "item_id": 999, "name": "Новое имя"}), e.VkItemNotFound, 1403),
        ("album_limit", ("market.addAlbum", {"owner_id": OWNER, "title": "x"}), e.VkLimitReached, 1407),
        ("market_off", ("market.get", {"owner_id": OWNER}), e.VkMarketDisabled, 1438),
    ],
)
def test_vk_errors_map_to_typed_exceptions(sandbox, vk, setup, call, cls, code):
    """Each error the emulator answers surfaces as its own exception class with the code and method."""
    if setup == "revoke":
        vk.revoke_token(TOKEN)
    elif setup == "foreign":
        vk.add_community(700002, "Чужое сообщество", admin_tokens=("someone-else",))
    elif setup == "closed":
        vk.add_community(700003, "Закрытое", admin_tokens=("someone-else",), is_closed=2)
    elif setup == "album_limit":
        vk.set_limits(GROUP, max_albums=0)
    elif setup == "market_off":
        vk.set_market_enabled(GROUP, False)
    method, params = call
    with pytest.raises(cls) as info:
        _client(sandbox).call(method, **params)
    assert info.value.code == code and info.value.method == method
    assert vk.stats["errors"][str(code)] == 1  # answered once: no retry of a non-retryable error


def test_already_in_album_and_item_limit(sandbox, vk):
    """1404 on a second addToAlbum; 1405 once the community is full."""
    client = _client(sandbox)
    item = _add_item(client)
    album = client.call("market.addAlbum", owner_id=OWNER, title="Хиты")["market_album_id"]
    client.call("market.addToAlbum", owner_id=OWNER, item_ids=[item], album_ids=[album])
    with pytest.raises(e.VkAlreadyInAlbum):
        client.call("market.addToAlbum", owner_id=OWNER, item_ids=[item], album_ids=[album])
    vk.set_limits(GROUP, max_items=1)
    with pytest.raises(e.VkLimitReached) as info:
        _add_item(client)
    assert info.value.code == 1405


def test_error_6_is_retried_after_a_pause(sandbox, vk):
    """A "too many requests" answer is retried and the call succeeds; with no retries left it raises."""
    vk.faults.push("6")
    vk.faults.push("6")
    client = _client(sandbox, too_many_pause=0.05)
    assert client.get_group(GROUP)["id"] == GROUP
    assert client.requests_made == 3 and vk.stats["errors"]["6"] == 2
    vk.faults.push("6")
    with pytest.raises(e.VkTooManyRequests):
        _client(sandbox, max_retries=0).get_group(GROUP)


def test_error_6_from_the_real_window_is_survived_without_a_limiter(sandbox, vk):
    """With the 3 req/s rule on and no limiter, 5 quick calls still all succeed thanks to the 6-retry."""
    vk.rate_limit_enabled = True
    client = _client(sandbox)
    for _ in range(5):
        client.get_group(GROUP)
    assert vk.stats["errors"].get("6", 0) >= 1
    assert vk.stats["methods"]["groups.getById"] == 5


def test_flood_control_is_retried_after_a_pause_when_allowed_even_for_writes(sandbox, vk):
    """With flood_retries, error 9 (the request was refused, nothing applied) is sent again after a pause;
    a write applied once, not twice."""
    vk.faults.push("9", method="market.addAlbum")
    vk.faults.push("9", method="market.addAlbum")
    client = _client(sandbox, flood_retries=2, flood_pause=0.01)
    client.call("market.addAlbum", owner_id=-GROUP, title="Новинки")
    assert client.requests_made == 3
    assert [a["title"] for a in vk.albums(GROUP)] == ["Новинки"]
    vk.faults.push("9")
    vk.faults.push("9")
    vk.faults.push("9")
    with pytest.raises(e.VkFloodControl):
        client.get_group(GROUP)  # a flood that persists still stops the caller


def test_flood_control_is_not_retried(sandbox, vk):
    """Error 9 stops at once (one request) by default, so the caller can stop the merchant's run."""
    vk.faults.push("9")
    client = _client(sandbox)
    with pytest.raises(e.VkFloodControl):
        client.get_group(GROUP)
    assert client.requests_made == 1


def test_internal_error_and_5xx_on_reads_are_retried(sandbox, vk):
    """Error 10 and an HTML 502 on a read are retried with backoff until the answer comes."""
    vk.faults.push("10")
    vk.faults.push("5xx")
    client = _client(sandbox)
    assert client.get_group(GROUP)["id"] == GROUP
    assert client.requests_made == 3


def test_5xx_exhausted_on_a_read_raises_transport_error(sandbox, vk):
    """After max_retries a read gives up with a retryable VkTransportError (maybe_applied False)."""
    for _ in range(3):
        vk.faults.push("5xx")
    with pytest.raises(e.VkTransportError) as info:
        _client(sandbox, max_retries=2).get_group(GROUP)
    assert info.value.retryable and not info.value.maybe_applied


def test_lost_answer_to_a_write_is_not_resent(sandbox, vk):
    """The write is applied, the answer is lost (502): the client raises maybe_applied and sends it once."""
    client = _client(sandbox)
    item = _add_item(client)
    vk.faults.push("drop_after_write", "market.edit")
    before = client.requests_made
    with pytest.raises(e.VkTransportError) as info:
        client.call("market.edit", owner_id=OWNER, item_id=item, name="Новое название")
    assert info.value.maybe_applied
    assert client.requests_made - before == 1
    assert vk.items(GROUP)[0]["title"] == "Новое название"  # it did happen


def test_timeout_on_a_write_is_maybe_applied_and_on_a_read_is_retried(sandbox, vk):
    """A write that times out is not resent (maybe_applied); a read that times out is retried."""
    vk.faults.timeout_seconds = 0.6
    client = _client(sandbox, timeout=0.3)
    vk.faults.push("timeout", "market.addAlbum")
    with pytest.raises(e.VkTransportError) as info:
        client.call("market.addAlbum", owner_id=OWNER, title="Медленная")
    assert info.value.maybe_applied and client.requests_made == 1
    vk.faults.push("timeout", "groups.getById")
    assert client.get_group(GROUP)["id"] == GROUP
    assert client.requests_made == 3


def test_connection_refused_on_a_write_is_not_maybe_applied(sandbox):
    """Nothing listening: the write never left, so maybe_applied is False."""
    client = VkClient(TOKEN, f"http://127.0.0.1:{free_port()}/vk/method", max_retries=0)
    with pytest.raises(e.VkTransportError) as info:
        client.call("market.delete", owner_id=OWNER, item_id=1)
    assert not info.value.maybe_applied


def test_token_refresher_is_asked_once_on_error_5(sandbox, vk):
    """On error 5 the client gets a new token from the refresher, retries, and keeps using it."""
    vk.revoke_token(TOKEN)
    vk.add_user("vk1.a.fresh-token")
    vk.add_admin(GROUP, "vk1.a.fresh-token")
    asked = []

    def refresher():
        asked.append(1)
        return "vk1.a.fresh-token"

    client = _client(sandbox, token_refresher=refresher)
    assert client.call("market.get", owner_id=OWNER)["count"] == 0
    assert client.call("market.get", owner_id=OWNER)["count"] == 0
    assert len(asked) == 1


def test_token_refresher_without_a_new_token_raises_auth_error(sandbox, vk):
    """A refresher that has nothing (None) leaves the VkAuthError to the caller, after one ask."""
    vk.revoke_token(TOKEN)
    asked = []
    client = _client(sandbox, token_refresher=lambda: asked.append(1))
    with pytest.raises(e.VkAuthError):
        client.get_group(GROUP)
    assert len(asked) == 1


def test_token_refresher_failure_is_an_auth_error(sandbox, vk):
    """A refresher that raises (e.g. VK ID says the refresh token is revoked) surfaces as VkAuthError."""
    vk.revoke_token(TOKEN)

    def refresher():
        raise e.VkIdError("invalid_grant", "refresh token is invalid or already used")

    with pytest.raises(e.VkAuthError) as info:
        _client(sandbox, token_refresher=refresher).get_group(GROUP)
    assert isinstance(info.value.__cause__, e.VkIdError) and info.value.__cause__.revoked


def test_token_never_reaches_logs(sandbox, vk, caplog):
    """Retries and errors are logged without the token."""
    vk.faults.push("10")
    vk.faults.push("9")
    client = _client(sandbox)
    with caplog.at_level(logging.DEBUG), pytest.raises(e.VkFloodControl) as info:
        client.get_group(GROUP)
    assert caplog.records
    assert TOKEN not in caplog.text and TOKEN not in str(info.value) and TOKEN not in repr(client)


# ------------------------------------------------------------------------------------------- execute


def test_execute_batch_of_60_with_2_failures(sandbox, vk):
    """60 calls go as 3 execute requests; 58 succeed and the 2 failures sit at their own positions."""
    client = _client(sandbox)
    item = _add_item(client)
    calls = [
        VkCall("market.edit", {"owner_id": OWNER, "item_id": item, "price": 100 + i}, tag=f"op{i}") for i in range(60)
    ]
    calls[7] = VkCall("market.edit", {"owner_id": OWNER, "item_id": 999999, "price": 1}, tag="op7")
    calls[41] = VkCall("market.edit", {"owner_id": OWNER, "item_id": item, "price": "дорого"}, tag="op41")
    before = vk.stats["execute_requests"]
    results = client.execute_batch(calls)
    assert vk.stats["execute_requests"] - before == 3
    assert len(results) == 60
    assert [r.call.tag for r in results] == [f"op{i}" for i in range(60)]
    failed = [i for i, r in enumerate(results) if not r.ok]
    assert failed == [7, 41]
    assert isinstance(results[7].error, e.VkItemNotFound)
    assert isinstance(results[41].error, e.VkInvalidParam)
    assert all(r.value == 1 for i, r in enumerate(results) if i not in (7, 41))
    assert vk.items(GROUP)[0]["price"] == "15900"  # the last edit (price 159) won


def test_execute_creates_items_with_unicode_and_returns_their_ids(sandbox, vk):
    """market.add inside execute with non-ASCII, quotes and newlines round-trips through VKScript."""
    client = _client(sandbox)
    photos = [client.upload_product_photo(GROUP, _jpeg((i * 40, 0, 0))) for i in range(3)]
    names = ['Чай "Да Хун Пао"', "Кофе\nмолотый", "Пряник ☕ тульский"]
    calls = [
        VkCall(
            "market.add",
            {
                "owner_id": OWNER,
                "name": name,
                "description": "Описание: «вкусно» \\ 100%",
                "category_id": CATEGORY,
                "price": 10,
                "main_photo_id": photo,
                "sku": f"sku-{i}",
            },
        )
        for i, (name, photo) in enumerate(zip(names, photos, strict=True))
    ]
    results = client.execute_batch(calls)
    assert all(r.ok for r in results)
    items = {i["sku"]: i for i in vk.items(GROUP)}
    assert [items[f"sku-{i}"]["title"] for i in range(3)] == names
    assert items["sku-0"]["description"] == "Описание: «вкусно» \\ 100%"
    assert {r.value["market_item_id"] for r in results} == {i["id"] for i in items.values()}


def test_execute_error_6_is_retried_for_the_chunk(sandbox, vk):
    """A whole-request error 6 on an execute is retried and the chunk's results come back."""
    vk.faults.push("6")
    client = _client(sandbox, too_many_pause=0.05)
    results = client.execute_batch([VkCall("groups.getById", {"group_id": GROUP}) for _ in range(3)])
    assert all(r.ok for r in results)
    assert client.requests_made == 2


def test_execute_whole_request_error_raises_after_earlier_chunks_were_yielded(sandbox, vk):
    """Flood control on the 2nd chunk raises, but iter_batch has already handed out the 1st chunk."""
    client = _client(sandbox)
    calls = [VkCall("groups.getById", {"group_id": GROUP}, tag=i) for i in range(30)]
    got = []
    results = client.iter_batch(calls)
    got.extend(next(results) for _ in range(25))
    vk.faults.push("9")
    with pytest.raises(e.VkFloodControl):
        next(results)
    assert [r.call.tag for r in got] == list(range(25))


def test_execute_with_writes_is_not_resent_after_a_lost_answer(sandbox, vk):
    """A chunk holding a write whose answer is lost raises maybe_applied instead of resending."""
    client = _client(sandbox)
    vk.faults.push("drop_after_write", "market.addAlbum")
    with pytest.raises(e.VkTransportError) as info:
        client.execute_batch([VkCall("market.addAlbum", {"owner_id": OWNER, "title": "Новинки"})])
    assert info.value.maybe_applied
    assert [a["title"] for a in vk.albums(GROUP)] == ["Новинки"]  # applied exactly once


# ------------------------------------------------------------------------------------------- photos


def test_upload_flow_gives_a_distinct_photo_id_per_item(sandbox, vk):
    """Each upload yields a new photo id, each usable as one item's main photo."""
    client = _client(sandbox)
    photo_ids = [client.upload_product_photo(GROUP, _jpeg((0, i * 50, 0))) for i in range(4)]
    assert len(set(photo_ids)) == 4
    for i, photo in enumerate(photo_ids):
        client.call(
            "market.add",
            owner_id=OWNER,
            name=f"Товар {i}",
            description="Описание товара",
            category_id=CATEGORY,
            price=1,
            main_photo_id=photo,
        )
    assert sorted(vk.photos[p] is not None for p in photo_ids) == [True] * 4
    assert client.uploads_made == 4
    assert client.requests_made == 4 * 2 + 4  # the multipart upload is not an API request


def test_api_calls_take_limiter_slots_but_the_multipart_upload_does_not(sandbox, vk, redis_client, limiter_key):
    """An upload costs 2 slots of the shared limiter (get server + save), not 3: the file POST is free."""
    limiter = RateLimiter(redis_client, limiter_key, rate=10, per=30.0)
    client = _client(sandbox, limiter=limiter)
    client.upload_product_photo(GROUP, _jpeg())
    assert client.uploads_made == 1 and client.requests_made == 2
    assert redis_client.zcard(limiter_key) == 2


def test_upload_of_a_non_image_is_refused(sandbox, vk):
    """The upload server's error becomes a VkApiError, not a photo id."""
    with pytest.raises(e.VkApiError):
        _client(sandbox).upload_product_photo(GROUP, b"not an image")


def test_upload_5xx_is_retried(sandbox, vk):
    """A 502 from the upload server is retried (an upload changes nothing until it is saved)."""
    vk.faults.push("5xx", "upload")
    client = _client(sandbox)
    assert client.upload_product_photo(GROUP, _jpeg()) > 0
    assert client.uploads_made == 2


def test_legacy_upload_flow_when_the_new_method_is_unknown(sandbox, vk):
    """When VK answers error 3 for market.getProductPhotoUploadServer, photos.*MarketPhoto is used."""
    with _vk_without_new_upload_method(sandbox.vk_url) as url:
        client = VkClient(TOKEN, url)
        photo_id = client.upload_product_photo(GROUP, _jpeg())
    assert photo_id in vk.photos
    assert vk.stats["methods"].get("photos.saveMarketPhoto") == 1
    assert "market.saveProductPhoto" not in vk.stats["methods"]


class _vk_without_new_upload_method:
    """An HTTP proxy to the emulator that plays an old VK: error 3 for the new upload-server method."""

    def __init__(self, target: str):
        self.target = target

    def __enter__(self) -> str:
        target = self.target

        @Request.application
        def app(request: Request) -> Response:
            method = request.path.rsplit("/", 1)[-1]
            if method == "market.getProductPhotoUploadServer":
                body = '{"error":{"error_code":3,"error_msg":"Unknown method passed"}}'
                return Response(body, content_type="application/json")
            answer = requests.post(f"{target}/{method}", data=request.form, timeout=10)
            return Response(answer.content, status=answer.status_code, content_type="application/json")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}/method"

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
