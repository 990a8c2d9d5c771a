"""refresh_catalog against the Evotor emulator over HTTP: exact mirror, changes, and every error path."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from evosync.clients.evotor import EvotorClient
from evosync.extensions import db
from evosync.models import (
    CachedGroup,
    CachedProduct,
    CachedStore,
    ConnectionState,
    EvotorConnection,
    SyncFilter,
    utcnow,
)
from evosync.services.evotor_catalog.refresh import refresh_all, refresh_catalog
from evosync.services.evotor_catalog.scope import set_group_enabled, set_store_enabled
from evosync.services.evotor_catalog.summary import BROKEN, FAILED, NOT_CONNECTED, OK, PAUSED
from tests.catalog.conftest import connect_merchant, seed_small_catalog


def _products(user_id: int, store_id: str) -> dict[str, CachedProduct]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(CachedProduct).filter_by(user_id=user_id, store_evotor_id=store_id))
    return {p.evotor_id: p for p in rows}


def _money(value, places="0.01") -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal(places))


def assert_store_mirrored(sandbox, user_id: int, store_id: str) -> None:
    """Every product of the store in Evotor has a row with every v2 field equal, and no other row exists."""
    api = {p["id"]: p for p in sandbox.evotor.products(store_id)}
    cached = _products(user_id, store_id)
    assert set(cached) == set(api)
    for pid, p in api.items():
        row = cached[pid]
        assert row.name == p["name"]
        assert row.code == p["code"]
        assert row.barcodes == p["barcodes"]
        assert row.barcodes_text == " ".join(p["barcodes"])
        assert row.price == _money(p["price"])
        assert row.cost_price == _money(p["cost_price"])
        assert row.quantity == _money(p["quantity"], "0.001")
        assert row.measure_name == p["measure_name"]
        assert row.tax == p["tax"]
        assert row.allow_to_sell is p["allow_to_sell"]
        assert row.description == p.get("description", "")
        assert row.article_number == p.get("article_number", "")
        assert row.parent_id == p["parent_id"]
        assert row.type == p["type"]
        assert row.attributes_choices == p.get("attributes_choices")
        assert row.evotor_updated_at == p["updated_at"]
    api_groups = {g["id"]: g for g in sandbox.evotor.groups(store_id)}
    cached_groups = {
        g.evotor_id: g
        for g in db.session.scalars(sa.select(CachedGroup).filter_by(user_id=user_id, store_evotor_id=store_id))
    }
    assert set(cached_groups) == set(api_groups)
    for gid, g in api_groups.items():
        assert (cached_groups[gid].name, cached_groups[gid].parent_id) == (g["name"], g["parent_id"])
        assert cached_groups[gid].attributes == g.get("attributes")
        assert cached_groups[gid].evotor_updated_at == g["updated_at"]


def test_catalog_of_several_stores_mirrors_exactly(sandbox, merchant):
    """Two stores, a nested tree and 17 products over pages of 5 are mirrored field for field, images included."""
    summary = refresh_catalog(merchant.user.id)
    assert summary.status == OK, summary.reason
    assert (summary.stores_added, summary.groups_added, summary.products_added) == (2, 6, 20)
    for store_id in merchant.stores.values():
        assert_store_mirrored(sandbox, merchant.user.id, store_id)
    stores = {s.evotor_id: s for s in db.session.scalars(sa.select(CachedStore))}
    assert stores[merchant.stores["a"]].name == "Магазин А"
    assert stores[merchant.stores["a"]].address == "г. Пермь, ул. Ленина, 1"
    # More than one page was really read.
    assert sandbox.evotor.stats["paths"]["GET /stores/{store_id}/products"] >= 4 + 1
    milk = _products(merchant.user.id, merchant.stores["a"])[merchant.products["milk"]]
    first_image = sandbox.evotor.images(merchant.stores["a"], merchant.products["milk"])[0]
    assert (milk.image_id, milk.image_url) == (first_image["id"], first_image["url"])
    assert milk.image_updated_at == first_image["updated_at"]
    water = _products(merchant.user.id, merchant.stores["a"])[merchant.products["water1"]]
    assert water.image_id is None and water.image_checked_for == water.evotor_updated_at
    conn = db.session.scalar(sa.select(EvotorConnection))
    assert conn.last_ok_at is not None and conn.last_error is None


def test_second_refresh_mirrors_renames_prices_deletions_moves_and_new_products(sandbox, merchant):
    """After changes in Evotor, the next refresh updates, moves, removes and adds exactly those rows."""
    ev, t, a, p, g = sandbox.evotor, merchant.token, merchant.stores["a"], merchant.products, merchant.groups
    assert refresh_catalog(merchant.user.id).ok
    ev.update_product(t, a, p["milk"], name="Молоко 2,5%")
    ev.update_product(t, a, p["cheese"], price=700.25, quantity=1.5)
    ev.update_product(t, a, p["water0"], parent_id=g["food"], description=None)
    ev.remove_product(t, a, p["water1"])
    ev.remove_product(t, a, p["water2"])
    new = ev.add_product(t, a, "Кефир", 75, parent_id=g["dairy"], barcodes=["4600000099999"])["id"]
    ev.add_image(t, a, new)
    ev.update_group(t, a, g["cheese"], name="Сыры твёрдые")
    ev.remove_group(t, a, g["drinks"])
    set_group_enabled(merchant.user.id, a, g["drinks"], False)  # a filter row that must go with its group

    summary = refresh_catalog(merchant.user.id)
    assert summary.status == OK
    assert (summary.products_added, summary.products_updated, summary.products_removed) == (1, 3, 2)
    assert (summary.groups_updated, summary.groups_removed) == (1, 1)
    assert summary.images_checked == 4  # the new product and the three changed ones; not the 13 unchanged
    assert_store_mirrored(sandbox, merchant.user.id, a)
    cached = _products(merchant.user.id, a)
    assert cached[new].image_id == ev.images(a, new)[0]["id"]
    assert cached[p["water0"]].parent_id == g["food"] and cached[p["water0"]].description == ""
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0


def test_removed_store_takes_its_rows_and_filters_with_it(sandbox, merchant):
    """A store gone from GET /stores loses its groups, products and toggles; the other store is untouched."""
    assert refresh_catalog(merchant.user.id).ok
    set_store_enabled(merchant.user.id, merchant.stores["b"], True)
    sandbox.evotor.remove_store(merchant.token, merchant.stores["b"])
    summary = refresh_catalog(merchant.user.id)
    assert summary.stores_removed == 1 and summary.products_removed == 0  # counted with the store
    assert _products(merchant.user.id, merchant.stores["b"]) == {}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncFilter)) == 0
    assert_store_mirrored(sandbox, merchant.user.id, merchant.stores["a"])


def test_payment_required_store_is_skipped_and_the_rest_refreshes(sandbox, merchant, caplog):
    """A 402 store is flagged and skipped (debug log); the other store mirrors, the run is ok."""
    sandbox.evotor.set_payment_required(merchant.stores["a"], True)
    with caplog.at_level("DEBUG", logger="evosync.services.evotor_catalog"):
        summary = refresh_catalog(merchant.user.id)
    assert summary.status == OK
    assert [s.store_id for s in summary.skipped_stores] == [merchant.stores["a"]]
    assert "402" in summary.skipped_stores[0].reason
    assert any(r.levelname == "DEBUG" and "payment" in r.getMessage() for r in caplog.records)
    assert_store_mirrored(sandbox, merchant.user.id, merchant.stores["b"])
    assert _products(merchant.user.id, merchant.stores["a"]) == {}
    flags = dict(db.session.execute(sa.select(CachedStore.evotor_id, CachedStore.payment_required)).all())
    assert flags == {merchant.stores["a"]: True, merchant.stores["b"]: False}
    sandbox.evotor.set_payment_required(merchant.stores["a"], False)
    assert refresh_catalog(merchant.user.id).ok
    db.session.expire_all()
    assert not db.session.scalar(sa.select(CachedStore.payment_required).filter_by(evotor_id=merchant.stores["a"]))
    assert_store_mirrored(sandbox, merchant.user.id, merchant.stores["a"])


def test_revoked_token_breaks_only_that_merchants_connection(sandbox, merchant):
    """In one loop over two merchants, a 401 marks A broken with a plain message while B refreshes."""
    other = seed_small_catalog(sandbox, connect_merchant(sandbox, "token-merchant-b", "b@example.com"))
    sandbox.evotor.revoke_token(merchant.token)
    summaries = {s.user_id: s for s in refresh_all()}
    assert summaries[merchant.user.id].status == BROKEN
    assert summaries[other.user.id].status == OK
    conns = {c.user_id: c for c in db.session.scalars(sa.select(EvotorConnection))}
    assert conns[merchant.user.id].state == ConnectionState.BROKEN
    assert "reconnect Evotor" in conns[merchant.user.id].last_error
    assert conns[other.user.id].state == ConnectionState.CONNECTED and conns[other.user.id].last_ok_at
    assert_store_mirrored(sandbox, other.user.id, other.stores["a"])
    # A broken merchant is left alone by the next loop, and a direct refresh answers at once.
    before = sandbox.evotor.stats["requests"]
    assert refresh_catalog(merchant.user.id).status == BROKEN
    assert sandbox.evotor.stats["requests"] == before
    assert [s.user_id for s in refresh_all()] == [other.user.id]


def test_rate_limit_pauses_the_merchant_and_later_calls_return_at_once(sandbox, merchant):
    """A 429 sets paused_until from Retry-After and stops; a refresh while paused makes no request."""
    sandbox.evotor.retry_after_seconds = 120
    sandbox.evotor.faults.push("429", "products")
    started = utcnow()
    summary = refresh_catalog(merchant.user.id)
    assert summary.status == PAUSED
    conn = db.session.scalar(sa.select(EvotorConnection))
    assert conn.paused_until is not None
    assert started + dt.timedelta(seconds=110) <= conn.paused_until <= utcnow() + dt.timedelta(seconds=130)
    assert conn.state == ConnectionState.CONNECTED and conn.last_ok_at is None
    requests_before = sandbox.evotor.stats["requests"]
    again = refresh_catalog(merchant.user.id)
    assert again.status == PAUSED and "paused until" in again.reason
    assert sandbox.evotor.stats["requests"] == requests_before
    # Once the pause is over, the refresh runs and clears it.
    conn.paused_until = utcnow() - dt.timedelta(seconds=1)
    db.session.commit()
    assert refresh_catalog(merchant.user.id).ok
    db.session.expire_all()
    assert db.session.scalar(sa.select(EvotorConnection.paused_until)) is None


def test_persistent_server_errors_fail_the_refresh_with_a_reason_and_remove_nothing(sandbox, merchant):
    """5xx through all client retries: the run fails with a logged reason; rows read before stay, none removed."""
    assert refresh_catalog(merchant.user.id).ok
    sandbox.evotor.remove_product(merchant.token, merchant.stores["a"], merchant.products["milk"])
    sandbox.evotor.faults.configure(rate=1.0, kinds=("500",), seed=1)
    client = EvotorClient(merchant.token, sandbox.evotor_url, max_retries=2, backoff=0.001)
    summary = refresh_catalog(merchant.user.id, client)
    sandbox.evotor.faults.clear()
    assert summary.status == FAILED and "HTTP 500" in summary.reason
    assert merchant.products["milk"] in _products(merchant.user.id, merchant.stores["a"])
    conn = db.session.scalar(sa.select(EvotorConnection))
    assert conn.state == ConnectionState.CONNECTED and conn.last_error


def test_transient_errors_are_retried_by_the_client_and_the_refresh_succeeds(sandbox, merchant):
    """One 503 in the middle of the product pages is absorbed by the client's retry."""
    sandbox.evotor.faults.push("503", "products")
    client = EvotorClient(merchant.token, sandbox.evotor_url, max_retries=2, backoff=0.001)
    assert refresh_catalog(merchant.user.id, client).ok
    assert_store_mirrored(sandbox, merchant.user.id, merchant.stores["a"])


def test_merchant_without_connection_is_told_so(evotor_app):
    """No Evotor connection: not_connected, nothing called."""
    from tests.factories import make_user

    user = make_user()
    assert refresh_catalog(user.id).status == NOT_CONNECTED


def test_image_checks_are_capped_per_refresh_and_caught_up_later(sandbox, merchant):
    """With a budget of 8 look-ups, 20 new products need three refreshes; then none is looked up again."""
    assert refresh_catalog(merchant.user.id, image_checks=8).images_pending == 12
    assert refresh_catalog(merchant.user.id, image_checks=8).images_pending == 4
    last = refresh_catalog(merchant.user.id, image_checks=8)
    assert (last.images_checked, last.images_pending) == (4, 0)
    assert refresh_catalog(merchant.user.id, image_checks=8).images_checked == 0
    milk = _products(merchant.user.id, merchant.stores["a"])[merchant.products["milk"]]
    assert milk.image_id == sandbox.evotor.images(merchant.stores["a"], merchant.products["milk"])[0]["id"]
