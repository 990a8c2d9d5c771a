"""`execute` in the VK emulator: the VKScript subset parser and batches over real HTTP."""

from __future__ import annotations

import json
import time

import pytest
import requests

from evosync.sandbox.images import render_png
from evosync.sandbox.vkscript import ApiCall, VkScriptCompileError, parse_execute_code

GID = 101
OWNER = -GID
ADMIN = "tok-admin"


@pytest.fixture
def sb(sandbox):
    sandbox.vk.add_community(GID, "Тестовый магазин", admin_tokens=(ADMIN,))
    sandbox.vk.rate_limit_enabled = False
    return sandbox


def post(sb, method: str, **params) -> requests.Response:
    data = {"access_token": ADMIN, "v": "5.199", **{k: str(v) for k, v in params.items()}}
    return requests.post(f"{sb.vk_url}/{method}", data=data, timeout=10)


def call(sb, method: str, **params):
    body = post(sb, method, **params).json()
    assert "response" in body, body
    return body["response"]


def execute(sb, calls: list[tuple[str, dict]]) -> dict:
    code = "return [" + ",".join(f"API.{m}({json.dumps(p, ensure_ascii=False)})" for m, p in calls) + "];"
    response = post(sb, "execute", code=code)
    assert response.status_code == 200
    return response.json()


def new_photo(sb, key: str) -> int:
    server = call(sb, "market.getProductPhotoUploadServer", group_id=GID)
    uploaded = requests.post(server["upload_url"], files={"file": ("p.png", render_png(key, 400))}, timeout=5)
    return call(sb, "market.saveProductPhoto", upload_response=uploaded.text)["photo_id"]


def add_params(photo_id: int, name: str = "Кофе зерновой", **extra) -> dict:
    return {
        "owner_id": OWNER,
        "name": name,
        "description": "Арабика, 250 г, свежая обжарка",
        "category_id": 700,
        "price": 199.9,
        "main_photo_id": photo_id,
        **extra,
    }


# ---------------------------------------------------------------- parser
def test_parser_reads_the_agreed_form():
    """The parser reads `return [API.a.b({...}), ...];` with free whitespace, escapes and arrays."""
    code = (
        'return [\n  API.market.add({"owner_id": -1, "name": "\\u041a\\u043e\\u0444\\u0435 \\"A\\"", '
        '"photo_ids": [1, 2]}) ,API.market.edit( {"item_id": 5} ),\tAPI.market.getCategories()\n];'
    )
    assert parse_execute_code(code) == [
        ApiCall("market.add", {"owner_id": -1, "name": 'Кофе "A"', "photo_ids": [1, 2]}),
        ApiCall("market.edit", {"item_id": 5}),
        ApiCall("market.getCategories", {}),
    ]
    assert parse_execute_code("return [];") == []
    assert parse_execute_code('return[API.market.get({"a":"]);"})]') == [ApiCall("market.get", {"a": "]);"})]


@pytest.mark.parametrize(
    "code",
    [
        "",
        "return 1;",
        "var a = 1; return [a];",
        "return [API.market.add({})",
        'return [API.market({"a":1})];',
        "return [API.market.add([1,2])];",
        'return [API.market.add({"a":1}) API.market.add({"a":1})];',
        "return [API.market.add({'a':1})];",
        'return [API.market.add({"a":1})]; return [];',
        'return [Foo.market.add({"a":1})];',
    ],
)
def test_parser_refuses_anything_else(code):
    """Anything outside the agreed form is a compile error (VK error 12)."""
    with pytest.raises(VkScriptCompileError):
        parse_execute_code(code)


# ---------------------------------------------------------------- execute over HTTP
def test_execute_mixed_success(sb):
    """A failing inner call gives false plus an execute_errors entry; the other calls are applied."""
    photo_a, photo_b = new_photo(sb, "a"), new_photo(sb, "b")
    body = execute(
        sb,
        [
            ("market.add", add_params(photo_a, "Первый товар", sku="EVO-1")),
            ("market.add", add_params(photo_b, "abc")),  # name too short
            ("market.addAlbum", {"owner_id": OWNER, "title": "Кофе"}),
            ("market.edit", {"owner_id": OWNER, "item_id": 99999, "price": "1"}),  # no such item
        ],
    )
    first, second, album, fourth = body["response"]
    assert first["market_item_id"] > 0 and album["market_album_id"] == 1
    assert second is False and fourth is False
    assert [(e["method"], e["error_code"]) for e in body["execute_errors"]] == [
        ("market.add", 100),
        ("market.edit", 1403),
    ]
    assert all(e["error_msg"] for e in body["execute_errors"])
    assert [i["sku"] for i in sb.vk.items(GID)] == ["EVO-1"]


def test_execute_without_errors_has_no_execute_errors(sb):
    """All-successful batches answer only `response`; non-ASCII text and arrays arrive intact."""
    main, extra = new_photo(sb, "main"), new_photo(sb, "extra")
    name = 'Чай «Эрл Грей» "№1" \\ 🍵'
    body = execute(sb, [("market.add", add_params(main, name, photo_ids=[extra], deleted=True))])
    assert set(body) == {"response"}
    stored = sb.vk.items(GID)[0]
    assert stored["title"] == name and stored["photo_ids"] == [main, extra] and stored["availability"] == 2
    assert stored["price"] == "19990"


def test_execute_over_25_calls_is_error_13(sb):
    """26 calls in one execute answer error 13 and apply nothing."""
    body = execute(sb, [("market.addAlbum", {"owner_id": OWNER, "title": f"Альбом {n}"}) for n in range(26)])
    assert body["error"]["error_code"] == 13
    assert sb.vk.albums(GID) == []
    ok = execute(sb, [("market.addAlbum", {"owner_id": OWNER, "title": f"Альбом {n}"}) for n in range(25)])
    assert len(ok["response"]) == 25 and len(sb.vk.albums(GID)) == 25


def test_execute_bad_code_is_error_12(sb):
    """Code outside the agreed form answers error 12; a missing `code` answers 100."""
    body = post(sb, "execute", code="var x = API.market.get({}); return x;").json()
    assert body["error"]["error_code"] == 12
    assert post(sb, "execute").json()["error"]["error_code"] == 100


def test_execute_is_one_request_for_the_rate_limit(sb):
    """Three executes of several calls each pass within a second; the fourth request gets 6."""
    sb.vk.rate_limit_enabled = True
    for n in range(3):
        body = execute(sb, [("market.addAlbum", {"owner_id": OWNER, "title": f"A{n}-{k}"}) for k in range(5)])
        assert len(body["response"]) == 5
    assert execute(sb, [("market.getCategories", {})])["error"]["error_code"] == 6
    stats = sb.vk.stats
    assert stats["execute_requests"] == 4 and stats["calls"] == 15 and stats["writes"] == 15


def test_execute_unknown_inner_method_is_false(sb):
    """An unknown inner method yields false with error 3, like a direct call."""
    body = execute(sb, [("market.nope", {}), ("market.getCategories", {})])
    assert body["response"][0] is False and body["response"][1]["count"] > 0
    assert body["execute_errors"][0]["error_code"] == 3


@pytest.mark.parametrize("kind", ["6", "9", "10"])
def test_execute_error_faults_fail_the_whole_batch(sb, kind):
    """An error fault on execute answers that error for the whole request and applies nothing."""
    sb.vk.faults.push(kind, method="execute")
    body = execute(sb, [("market.addAlbum", {"owner_id": OWNER, "title": "Кофе"})])
    assert body["error"]["error_code"] == int(kind)
    assert sb.vk.albums(GID) == []


def test_drop_after_write_inside_execute(sb):
    """A drop_after_write pushed for market.add hits the execute batch carrying it: writes land, 502 answer."""
    photo = new_photo(sb, "dropped")
    sb.vk.faults.push("drop_after_write", method="market.add")
    code = f"return [API.market.add({json.dumps(add_params(photo, sku='EVO-7'))})];"
    response = post(sb, "execute", code=code)
    assert response.status_code == 502 and "<html" in response.text
    assert [i["sku"] for i in sb.vk.items(GID)] == ["EVO-7"]


def test_slow_execute_still_answers(sb):
    """A "slow" fault on execute delays the answer by slow_seconds and keeps it correct."""
    sb.vk.faults.slow_seconds = 0.2
    sb.vk.faults.push("slow")
    started = time.monotonic()
    body = execute(sb, [("market.getCategories", {})])
    assert time.monotonic() - started >= 0.2 and body["response"][0]["count"] > 0
