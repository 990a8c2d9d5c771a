"""EvotorClient against the Evotor emulator over real HTTP: paging, since, images, errors and retries."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
import requests

from evosync.clients.errors import (
    EvotorAuthError,
    EvotorBadResponse,
    EvotorError,
    EvotorNotFound,
    EvotorPaymentRequired,
    EvotorRateLimited,
    EvotorTransientError,
)
from evosync.clients.evotor import EvotorClient, parse_retry_after, snake_case_keys
from tests.services import free_port

TOKEN = "evotor-test-token"


@pytest.fixture
def evotor(sandbox):
    """An Evotor account with one store on the emulator; small pages so paging really happens."""
    sandbox.evotor.add_account(TOKEN)
    store = sandbox.evotor.add_store(TOKEN, "Главный магазин")
    sandbox.evotor.page_size = 5
    return sandbox.evotor, store["id"]


def _client(sandbox, token=TOKEN, **kwargs) -> EvotorClient:
    kwargs.setdefault("backoff", 0.01)
    return EvotorClient(token, sandbox.evotor_url, **kwargs)


def _epoch_ms(evotor_time: str) -> int:
    return int(datetime.strptime(evotor_time, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000)


def test_products_are_read_across_many_cursor_pages(sandbox, evotor):
    """23 products over pages of 5 come back complete, in order, each exactly once (5 requests)."""
    state, store_id = evotor
    made = [state.add_product(TOKEN, store_id, f"Товар {i}", price=10 + i)["id"] for i in range(23)]
    products = list(_client(sandbox).iter_products(store_id))
    assert [p["id"] for p in products] == made
    assert products[0]["name"] == "Товар 0" and products[0]["store_id"] == store_id
    assert state.stats["paths"]["GET /stores/{store_id}/products"] == 5


def test_stores_and_groups_are_listed(sandbox, evotor):
    """iter_stores and iter_groups page like products do."""
    state, store_id = evotor
    for i in range(6):
        state.add_store(TOKEN, f"Магазин {i}")
    groups = [state.add_group(TOKEN, store_id, f"Группа {i}")["id"] for i in range(7)]
    client = _client(sandbox)
    assert len(list(client.iter_stores())) == 7
    assert [g["id"] for g in client.iter_groups(store_id)] == groups


def test_since_is_sent_on_the_first_page_only_and_filters(sandbox, evotor):
    """Only products updated after ``since`` come back, over several pages, with ``since`` not repeated."""
    state, store_id = evotor
    state.page_size = 2
    ids = [state.add_product(TOKEN, store_id, f"Товар {i}", price=5)["id"] for i in range(10)]
    since = _epoch_ms(state.product(store_id, ids[-1])["updated_at"])
    changed = ids[1:6]
    for pid in changed:
        state.update_product(TOKEN, store_id, pid, price=99)
    result = list(_client(sandbox).iter_products(store_id, since=since))
    assert sorted(p["id"] for p in result) == sorted(changed)
    queries = [r["path"] for r in sandbox.evotor.logged_requests() if r["route"].endswith("/products")]
    assert len(queries) == 3
    assert f"since={since}" in queries[0]
    assert all("since=" not in q and "cursor=" in q for q in queries[1:])


def test_get_product(sandbox, evotor):
    """get_product returns the one product with its v2 fields."""
    state, store_id = evotor
    pid = state.add_product(TOKEN, store_id, "Кефир", price=89.9, quantity=3)["id"]
    product = _client(sandbox).get_product(store_id, pid)
    assert product["id"] == pid and product["name"] == "Кефир" and product["price"] == 89.9


@pytest.mark.parametrize("shape", ["paged", "bare"])
def test_images_in_both_shapes_come_out_snake_case_and_download(sandbox, evotor, shape):
    """Paged snake_case and bare camelCase image lists both give ``meta.file_size`` etc.; urls download."""
    state, store_id = evotor
    state.images_list_shape = shape
    pid = state.add_product(TOKEN, store_id, "Сыр", price=300)["id"]
    for _ in range(7):
        state.add_image(TOKEN, store_id, pid)
    client = _client(sandbox)
    images = list(client.iter_product_images(store_id, pid))
    assert len(images) == 7
    first = images[0]
    assert set(first) >= {"id", "url", "meta", "created_at", "updated_at"}
    assert first["meta"]["file_size"] > 0 and first["meta"]["width"] == 300
    data = client.download(first["url"])
    assert data.startswith(b"\x89PNG") and len(data) == first["meta"]["file_size"]


def test_download_refuses_files_over_the_cap(sandbox, evotor):
    """A file larger than max_download_bytes raises EvotorBadResponse instead of filling memory."""
    state, store_id = evotor
    pid = state.add_product(TOKEN, store_id, "Сыр", price=300)["id"]
    image = state.add_image(TOKEN, store_id, pid)
    url = next(_client(sandbox).iter_product_images(store_id, pid))["url"]
    assert image["id"] in url
    with pytest.raises(EvotorBadResponse):
        _client(sandbox, max_download_bytes=100).download(url)


def test_revoked_token_raises_auth_error(sandbox, evotor):
    """401 becomes EvotorAuthError (not retryable)."""
    sandbox.evotor.revoke_token(TOKEN)
    with pytest.raises(EvotorAuthError) as info:
        list(_client(sandbox).iter_stores())
    assert info.value.status == 401 and not info.value.retryable


def test_unpaid_store_raises_payment_required_with_store_id(sandbox, evotor):
    """402 becomes EvotorPaymentRequired carrying the store id, so the caller can skip that store."""
    state, store_id = evotor
    state.set_payment_required(store_id, True)
    with pytest.raises(EvotorPaymentRequired) as info:
        list(_client(sandbox).iter_products(store_id))
    assert info.value.store_id == store_id


def test_missing_product_raises_not_found(sandbox, evotor):
    """404 becomes EvotorNotFound."""
    _, store_id = evotor
    with pytest.raises(EvotorNotFound):
        _client(sandbox).get_product(store_id, "no-such-product")


def test_429_raises_rate_limited_with_retry_after(sandbox, evotor):
    """429 is not retried inline; EvotorRateLimited carries the Retry-After seconds."""
    state, _ = evotor
    state.retry_after_seconds = 42
    state.faults.push("429", "stores")
    with pytest.raises(EvotorRateLimited) as info:
        list(_client(sandbox).iter_stores())
    assert info.value.retry_after == 42 and info.value.retryable
    assert state.stats["requests"] == 1


def test_5xx_is_retried_then_succeeds(sandbox, evotor):
    """Two 5xx answers on a page are retried with backoff and the listing completes."""
    state, store_id = evotor
    for i in range(7):
        state.add_product(TOKEN, store_id, f"Товар {i}", price=1)
    state.faults.push("500", "products")
    state.faults.push("503", "products")
    products = list(_client(sandbox).iter_products(store_id))
    assert len(products) == 7
    assert state.stats["paths"]["GET /stores/{store_id}/products"] == 4  # 2 failures + 2 pages


def test_5xx_exhausted_raises_transient_error(sandbox, evotor):
    """After max_retries retries of 5xx the client gives up with a retryable EvotorTransientError."""
    state, _ = evotor
    for _ in range(3):
        state.faults.push("502", "stores")
    with pytest.raises(EvotorTransientError) as info:
        list(_client(sandbox, max_retries=2).iter_stores())
    assert info.value.retryable
    assert state.stats["requests"] == 3


def test_timeout_is_transient_and_retried(sandbox, evotor):
    """A request slower than the client's timeout is retried like a 5xx."""
    state, _ = evotor
    state.faults.timeout_seconds = 1.0
    state.faults.push("timeout", "stores")
    stores = list(_client(sandbox, timeout=0.3).iter_stores())
    assert len(stores) == 1


def test_connection_refused_is_transient(sandbox):
    """Nothing listening: EvotorTransientError after the retries."""
    client = EvotorClient(TOKEN, f"http://127.0.0.1:{free_port()}/evotor", max_retries=1, backoff=0.01)
    with pytest.raises(EvotorTransientError):
        list(client.iter_stores())


def test_v2_media_type_and_token_header_are_sent(sandbox, evotor):
    """The emulator refuses a client without the v2 Accept; ours passes, and a missing token is 401."""
    assert len(list(_client(sandbox).iter_stores())) == 1
    answer = requests.get(sandbox.evotor_url + "/stores", headers={"X-Authorization": TOKEN}, timeout=5)
    assert answer.status_code == 406
    with pytest.raises(EvotorAuthError):
        list(_client(sandbox, token="").iter_stores())


def test_token_never_reaches_logs_or_repr(sandbox, evotor, caplog):
    """Errors, retries and repr never show the token."""
    state, _ = evotor
    state.faults.push("500", "stores")
    state.faults.push("429", "stores")
    client = _client(sandbox)
    with caplog.at_level(logging.DEBUG), pytest.raises(EvotorError) as info:
        list(client.iter_stores())
    assert caplog.records  # the retry was logged
    assert TOKEN not in caplog.text and TOKEN not in str(info.value) and TOKEN not in repr(client)


def test_bad_json_raises_bad_response(sandbox):
    """A 200 that is not JSON (e.g. a proxy's HTML page) is EvotorBadResponse."""
    client = EvotorClient(TOKEN, sandbox.base_url, backoff=0.01)  # "/" answers plain text
    with pytest.raises(EvotorBadResponse):
        client._get_json("/")


def test_snake_case_keys_and_retry_after_parsing():
    """camelCase keys become snake_case at every depth; Retry-After accepts seconds, dates and nothing."""
    assert snake_case_keys({"fileSize": 1, "meta": {"createdAt": "x"}, "items": [{"updatedAt": 2}]}) == {
        "file_size": 1,
        "meta": {"created_at": "x"},
        "items": [{"updated_at": 2}],
    }
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) == 1800
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") == 1800
