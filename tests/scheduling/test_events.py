"""POST /evotor/events/catalog: signature checks, idempotency, JSON errors, the queue and its drainer, mirror
updates, one debounced sync. Jobs run inline here (RUN_JOBS_INLINE): the drainer applies an event before the
answer; tests of the queue itself switch that off and drain by hand."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from evosync.extensions import db
from evosync.models import (
    CachedGroup,
    CachedProduct,
    CachedStore,
    ConnectionState,
    EvotorConnection,
    SyncFilter,
    VkConnection,
    WebhookEvent,
)
from evosync.redis_conn import get_redis
from evosync.services.evotor_events.queue import DRAIN_MARKER, drain_events
from evosync.services.sync.starts import debounce_key
from tests.factories import make_user

PATH = "/evotor/events/catalog"
SECRET = "app-wide-signing-secret"
EVOTOR_USER = "01-000000010409029"
STORE = "20170228-F4F1-401B-80FA-9ECCA8451FFB"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return {"X-Hub-Signature": f"sha1={digest}", "Content-Type": "application/json", "User-Agent": "Evotor-Hookshot"}


def product_event(event_id: str, product_id: str = "p-1", action: str = "updated", **fields) -> dict:
    payload = {
        "id": product_id,
        "store_id": STORE,
        "user_id": EVOTOR_USER,
        "name": "Кофе зерновой 1 кг",
        "price": 990.0,
        "quantity": 3,
        "allow_to_sell": True,
        "type": "NORMAL",
        "updated_at": "2024-05-01T10:00:00.000+0000",
        **fields,
    }
    return {"id": event_id, "timestamp": 1714557600000, "type": "ProductEvent", "action": action, "payload": payload}


def post(client, event, secret: str = SECRET, headers: dict | None = None):
    body = event if isinstance(event, bytes) else json.dumps(event).encode()
    return client.post(PATH, data=body, headers=headers if headers is not None else signed(body, secret))


@pytest.fixture
def merchant(app):
    """A merchant with a connected Evotor account (known by its Evotor user id) and one mirrored store."""
    app.config["EVOTOR_WEBHOOK_SECRET"] = SECRET
    user = make_user()
    db.session.add_all(
        [
            EvotorConnection(
                user_id=user.id, evotor_user_id=EVOTOR_USER, access_token="t", state=ConnectionState.CONNECTED
            ),
            CachedStore(user_id=user.id, evotor_id=STORE, name="Магазин"),
        ]
    )
    db.session.commit()
    return user


def event_row(event_id: str) -> WebhookEvent:
    db.session.expire_all()
    return WebhookEvent.query.filter_by(event_id=event_id).one()


def test_good_signature_applies_the_product(client, merchant):
    """A correctly signed ProductEvent is answered ``queued`` and, applied by the drainer, creates the product in
    the merchant's mirror; its row ends ``applied``, with the merchant and without the body."""
    resp = post(client, product_event("ev-1"))
    assert resp.status_code == 200, resp.data
    assert resp.get_json() == {"status": "queued", "event_id": "ev-1"}
    row = CachedProduct.query.filter_by(user_id=merchant.id, evotor_id="p-1").one()
    assert row.price == Decimal("990.00") and row.name == "Кофе зерновой 1 кг" and row.store_evotor_id == STORE
    event = event_row("ev-1")
    assert (event.status, event.user_id, event.body) == ("applied", merchant.id, None)
    assert event.processed_at is not None and event.event_type == "ProductEvent.updated"


BAD_SIGNATURES = [
    (None, "missing"),
    ("", "missing"),
    ("sha1=" + "0" * 40, "does not match"),
    ("sha256=SIGN", "Unsupported"),
    ("md5=SIGN", "Unsupported"),
    ("SIGN", "Unsupported"),
]


def test_bad_missing_or_foreign_signatures_are_refused(client, merchant):
    """Missing, mismatching or non-sha1 signatures (even correct sha256/md5 HMACs) answer 401 JSON, change nothing."""
    body = json.dumps(product_event("ev-bad")).encode()
    for header, reason in BAD_SIGNATURES:
        headers = {"Content-Type": "application/json"}
        if header is not None:
            real = hmac.new(SECRET.encode(), body, hashlib.sha256 if "sha256" in header else hashlib.md5).hexdigest()
            headers["X-Hub-Signature"] = header.replace("SIGN", real)
        resp = client.post(PATH, data=body, headers=headers)
        assert resp.status_code == 401, header
        assert resp.is_json and reason in resp.get_json()["errors"][0]["reason"], header
    assert CachedProduct.query.count() == 0 and WebhookEvent.query.count() == 0


def test_signature_with_a_wrong_secret_or_a_changed_body_is_refused(client, merchant):
    """A signature made with another secret, or over other bytes, does not verify."""
    body = json.dumps(product_event("ev-2")).encode()
    assert client.post(PATH, data=body, headers=signed(body, "guessed-secret")).status_code == 401
    tampered = body.replace(b"990.0", b"1.0")
    assert client.post(PATH, data=tampered, headers=signed(body)).status_code == 401
    assert CachedProduct.query.count() == 0


def test_merchant_secret_verifies_only_that_merchants_events(client, app, merchant):
    """A merchant's own webhook_signing_secret verifies their events, never another merchant's."""
    conn = EvotorConnection.query.filter_by(user_id=merchant.id).one()
    conn.webhook_signing_secret = "merchant-own-secret"
    other = make_user()
    db.session.add_all(
        [
            EvotorConnection(user_id=other.id, evotor_user_id="01-999", access_token="t", state="connected"),
            CachedStore(user_id=other.id, evotor_id="OTHER-STORE", name="Чужой"),
        ]
    )
    db.session.commit()
    assert post(client, product_event("ev-own"), secret="merchant-own-secret").status_code == 200
    foreign = product_event("ev-foreign", store_id="OTHER-STORE", user_id="01-999")
    assert post(client, foreign, secret="merchant-own-secret").status_code == 401
    assert post(client, foreign).status_code == 200  # the app-wide secret vouches for every merchant


def test_repeat_delivery_is_idempotent(client, merchant):
    """The same event delivered again answers duplicate and does not reapply (a later manual edit survives)."""
    event = product_event("ev-3", price=100)
    assert post(client, event).get_json()["status"] == "queued"
    assert event_row("ev-3").status == "applied"
    row = CachedProduct.query.filter_by(user_id=merchant.id, evotor_id="p-1").one()
    row.price = Decimal("555.00")  # e.g. a newer change that arrived meanwhile
    db.session.commit()
    again = post(client, event)
    assert again.status_code == 200 and again.get_json()["status"] == "duplicate"
    db.session.refresh(row)
    assert row.price == Decimal("555.00")
    assert WebhookEvent.query.filter_by(event_id="ev-3").count() == 1


def test_malformed_json_and_missing_fields_answer_400_json(client, merchant):
    """A signed body that is not JSON, not an object, or lacks id/type/payload answers 400 with a JSON reason."""
    for body in (b"{not json", b"[1, 2]", b'"text"', json.dumps({"type": "ProductEvent"}).encode()):
        resp = client.post(PATH, data=body, headers=signed(body))
        assert resp.status_code == 400, body
        assert resp.is_json and resp.get_json()["errors"][0]["code"] == 400
    missing_store = product_event("ev-4")
    del missing_store["payload"]["store_id"]
    resp = post(client, missing_store)
    assert resp.status_code == 400 and "store_id" in resp.get_json()["errors"][0]["reason"]
    assert WebhookEvent.query.count() == 0


def test_unsigned_garbage_is_refused_before_parsing(client, merchant):
    """Without a valid signature even malformed JSON answers 401: strangers learn nothing about parsing."""
    resp = client.post(PATH, data=b"{not json", headers={"X-Hub-Signature": "sha1=" + "1" * 40})
    assert resp.status_code == 401 and resp.is_json


def test_a_request_without_a_wellformed_signature_costs_no_query(client, merchant):
    """Missing or non-sha1 signatures are refused from the header alone: no merchant lookup, no statement."""
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    body = json.dumps(product_event("ev-nosig")).encode()
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        missing = client.post(PATH, data=body, headers={"Content-Type": "application/json"})
        md5 = client.post(PATH, data=body, headers={"X-Hub-Signature": "md5=" + "1" * 32})
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert missing.status_code == md5.status_code == 401
    assert statements == []


def test_no_secret_configured_answers_503(client, app, merchant):
    """With no app-wide secret and no merchant secret nothing can be verified: 503 so Evotor retries later."""
    app.config["EVOTOR_WEBHOOK_SECRET"] = ""
    resp = post(client, product_event("ev-5"))
    assert resp.status_code == 503 and resp.is_json


def test_csrf_does_not_apply(client, app, merchant):
    """The endpoint is CSRF-exempt: Evotor sends no token, the signature authenticates."""
    app.config["WTF_CSRF_ENABLED"] = True
    assert post(client, product_event("ev-6")).status_code == 200


def test_unknown_merchant_and_unknown_type_are_acknowledged(client, merchant):
    """Events of unknown merchants or types answer 200 (so Evotor stops retrying) and change nothing."""
    stranger = product_event("ev-7", user_id="01-unknown", store_id="UNKNOWN-STORE")
    assert post(client, stranger).get_json()["status"] == "queued"
    assert event_row("ev-7").status == "unknown_user"
    odd = {"id": "ev-8", "type": "ReceiptEvent", "action": "created", "payload": {"id": "r"}}
    assert post(client, odd).get_json()["status"] == "ignored"  # not even queued
    assert (event_row("ev-8").status, event_row("ev-8").body) == ("ignored", None)
    assert CachedProduct.query.count() == 0
    assert WebhookEvent.query.count() == 2


def test_store_fallback_finds_a_manually_connected_merchant(client, merchant):
    """A connection made by hand has no Evotor user id: the event's store_id finds the merchant."""
    conn = EvotorConnection.query.filter_by(user_id=merchant.id).one()
    conn.evotor_user_id = None
    db.session.commit()
    assert post(client, product_event("ev-9")).status_code == 200
    assert event_row("ev-9").status == "applied"
    assert CachedProduct.query.filter_by(user_id=merchant.id).count() == 1


def test_stale_update_is_ignored(client, merchant):
    """An update older than what the mirror holds (out-of-order delivery) does not overwrite it."""
    post(client, product_event("ev-10", price=200, updated_at="2024-05-02T10:00:00.000+0000"))
    post(client, product_event("ev-11", price=100, updated_at="2024-05-01T10:00:00.000+0000"))
    assert event_row("ev-11").status == "ignored"
    assert CachedProduct.query.one().price == Decimal("200.00")


def test_removed_group_image_and_store_events(client, merchant):
    """Products and groups are removed, images attached and detached, and a removed store takes its rows along."""
    post(client, product_event("ev-20", product_id="p-2"))
    post(client, product_event("ev-21", product_id="p-3"))
    post(client, product_event("ev-22", product_id="p-2", action="removed"))
    assert event_row("ev-22").status == "applied"
    assert [p.evotor_id for p in CachedProduct.query.all()] == ["p-3"]

    group = {"id": "g-1", "store_id": STORE, "user_id": EVOTOR_USER, "name": "Напитки", "parent_id": None}
    post(client, {"id": "ev-23", "type": "ProductGroupEvent", "action": "created", "payload": group})
    assert CachedGroup.query.one().name == "Напитки"
    db.session.add(SyncFilter(user_id=merchant.id, entity_type="group", entity_id="g-1", parent_entity_id=STORE))
    db.session.commit()
    post(client, {"id": "ev-24", "type": "ProductGroupEvent", "action": "removed", "payload": group})
    assert CachedGroup.query.count() == 0 and SyncFilter.query.count() == 0

    image = {"id": "img-1", "product_id": "p-3", "store_id": STORE, "user_id": EVOTOR_USER, "url": "http://x/1.png"}
    post(client, {"id": "ev-25", "type": "ProductImageEvent", "action": "created", "payload": image})
    row = CachedProduct.query.one()
    assert (row.image_id, row.image_url) == ("img-1", "http://x/1.png")
    post(client, {"id": "ev-26", "type": "ProductImageEvent", "action": "removed", "payload": image})
    db.session.refresh(row)
    assert row.image_id is None and row.image_checked_for is None

    store = {"id": STORE, "user_id": EVOTOR_USER, "name": "Магазин на Ленина", "address": "Ленина, 1"}
    post(client, {"id": "ev-27", "type": "StoreEvent", "action": "updated", "payload": store})
    assert CachedStore.query.one().name == "Магазин на Ленина"
    post(client, {"id": "ev-28", "type": "StoreEvent", "action": "removed", "payload": store})
    assert CachedStore.query.count() == 0 and CachedProduct.query.count() == 0


def test_a_burst_schedules_one_debounced_sync(client, app, merchant):
    """A burst of events wakes one drain job; drained, they schedule exactly one delayed sync job (the debounce),
    SYNC_DEBOUNCE_SECONDS out."""
    app.config.update(RUN_JOBS_INLINE=False, SYNC_DEBOUNCE_SECONDS=30)
    db.session.add(VkConnection(user_id=merchant.id, access_token="vk", group_id=1, state=ConnectionState.CONNECTED))
    db.session.commit()
    answers = [post(client, product_event(f"burst-{i}", product_id=f"p-{i}")).get_json() for i in range(5)]
    assert [a["status"] for a in answers] == ["queued"] * 5
    assert Queue("high", connection=get_redis()).count == 1  # one drain job for the burst
    summary = drain_events(linger=0)
    assert summary.by_status == {"applied": 5} and summary.synced == {merchant.id: "scheduled"}
    registry = ScheduledJobRegistry("high", connection=get_redis())
    assert registry.count == 1
    assert 0 < get_redis().ttl(debounce_key(merchant.id)) <= 30 + 300
    for i in range(5, 8):
        post(client, product_event(f"burst-{i}", product_id=f"p-{i}"))
    assert drain_events(linger=0).synced == {merchant.id: "pending"}  # the sync already scheduled will read these too
    assert registry.count == 1


def test_the_intake_only_records_and_the_drainer_applies_in_arrival_order(client, app, merchant):
    """Without a worker the answer comes at once and the mirror is untouched: the row waits ``queued`` with the
    body as received. The drainer applies queued events oldest first (the later price wins), one batch per
    transaction, then clears the bodies."""
    app.config["RUN_JOBS_INLINE"] = False
    first = json.dumps(product_event("ev-q1", price=100)).encode()
    assert client.post(PATH, data=first, headers=signed(first)).get_json() == {"status": "queued", "event_id": "ev-q1"}
    post(client, product_event("ev-q2", price=200))
    post(client, product_event("ev-q3", product_id="p-2", price=300))
    assert CachedProduct.query.count() == 0
    queued = event_row("ev-q1")
    assert (queued.status, queued.body, queued.processed_at) == ("queued", first.decode(), None)
    assert get_redis().exists(DRAIN_MARKER)
    summary = drain_events(batch_size=2, linger=0)
    assert summary.events == 3 and summary.by_status == {"applied": 3}
    assert {p.evotor_id: p.price for p in CachedProduct.query.all()} == {
        "p-1": Decimal("200.00"),
        "p-2": Decimal("300.00"),
    }
    assert [(event_row(e).status, event_row(e).body) for e in ("ev-q1", "ev-q2", "ev-q3")] == [("applied", None)] * 3
    assert drain_events(linger=0).events == 0 and not get_redis().exists(DRAIN_MARKER)


def test_an_event_that_fails_to_apply_does_not_hold_back_the_others(client, app, merchant):
    """A queued event that cannot be applied is marked ``failed`` (its body kept for a look, the error noted); the
    events before and after it in the same batch are applied."""
    app.config["RUN_JOBS_INLINE"] = False
    post(client, product_event("ev-f1", product_id="p-1"))
    db.session.add(WebhookEvent(event_id="ev-f2", event_type="ProductEvent.updated", status="queued", body="{broken"))
    db.session.commit()
    post(client, product_event("ev-f3", product_id="p-3"))
    summary = drain_events(linger=0)
    assert summary.by_status == {"applied": 2, "failed": 1}
    assert sorted(p.evotor_id for p in CachedProduct.query.all()) == ["p-1", "p-3"]
    broken = event_row("ev-f2")
    assert broken.status == "failed" and broken.body == "{broken" and "JSONDecodeError" in broken.error


def test_one_drainer_at_a_time_and_nothing_is_left_behind(client, app, merchant):
    """While another drainer holds the lock, a second one leaves at once (rows stay queued for the holder); events
    that arrive meanwhile set the wake-up marker, which the holder checks after releasing the lock."""
    from evosync.locks import merchant_lock
    from evosync.services.evotor_events.queue import DRAIN_LOCK

    app.config["RUN_JOBS_INLINE"] = False
    post(client, product_event("ev-l1"))
    with merchant_lock(DRAIN_LOCK, 0) as held:
        assert held
        assert drain_events(linger=0).events == 0
        assert event_row("ev-l1").status == "queued"
    assert get_redis().exists(DRAIN_MARKER)
    assert drain_events(linger=0).by_status == {"applied": 1}


def test_a_steady_stream_wakes_once_and_the_lingering_drainer_takes_every_event(client, app, merchant, monkeypatch):
    """Within WAKE_WINDOW of seeing the marker a web process does not touch Redis again; the drainer that started
    after that sighting keeps polling for DRAIN_LINGER (> WAKE_WINDOW), so the events it was not woken for are
    applied too, and only one drain job was ever queued."""
    import threading

    import redis as redis_lib

    from evosync.services.evotor_events import queue as evotor_events

    app.config["RUN_JOBS_INLINE"] = False
    monkeypatch.setattr(evotor_events, "WAKE_WINDOW", 1.0)
    monkeypatch.setattr(evotor_events, "DRAIN_POLL", 0.05)
    sets: list[tuple] = []
    original_set = redis_lib.Redis.set
    monkeypatch.setattr(redis_lib.Redis, "set", lambda self, *a, **k: sets.append(a) or original_set(self, *a, **k))

    post(client, product_event("ev-w1", product_id="p-1"))
    marker_sets = [a for a in sets if a[0] == DRAIN_MARKER]
    assert len(marker_sets) == 1
    summaries = []

    def drainer():
        with app.app_context():
            summaries.append(drain_events(linger=1.5))

    thread = threading.Thread(target=drainer)
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and event_row("ev-w1").status == "queued":
        time.sleep(0.05)
    post(client, product_event("ev-w2", product_id="p-2"))  # inside the window: no Redis round trip
    assert [a for a in sets if a[0] == DRAIN_MARKER] == marker_sets
    thread.join(timeout=20)
    assert summaries and summaries[0].by_status == {"applied": 2}
    assert {event_row("ev-w1").status, event_row("ev-w2").status} == {"applied"}
    assert Queue("high", connection=get_redis()).count == 1  # the job the first event queued (run by hand here)


def test_a_long_drain_hands_over_to_a_fresh_job(client, app, merchant, monkeypatch):
    """Past DRAIN_MAX_SECONDS the drainer stops after its batch and queues a successor (so the queue's other jobs
    get a turn); the rest of the events wait for that job."""
    from evosync.services.evotor_events import queue as evotor_events

    app.config["RUN_JOBS_INLINE"] = False
    for i in range(3):
        post(client, product_event(f"ev-h{i}", product_id=f"p-{i}"))
    queue = Queue("high", connection=get_redis())
    before = queue.count
    monkeypatch.setattr(evotor_events, "DRAIN_MAX_SECONDS", 0)
    assert drain_events(batch_size=1, linger=0).events == 1
    assert queue.count == before + 1 and get_redis().exists(DRAIN_MARKER)
    assert [event_row(f"ev-h{i}").status for i in range(3)] == ["applied", "queued", "queued"]
    monkeypatch.setattr(evotor_events, "DRAIN_MAX_SECONDS", 30)
    assert drain_events(linger=0).events == 2


def test_a_redis_outage_at_intake_loses_nothing(client, app, merchant, monkeypatch):
    """Redis unreachable when the drainer should be woken: the event is still recorded and answered (the database
    holds it), and the schedule's sweep applies it later."""
    import redis as redis_lib

    app.config["RUN_JOBS_INLINE"] = False

    def unreachable(*_args, **_kwargs):
        raise redis_lib.exceptions.ConnectionError("Redis is down")

    monkeypatch.setattr(redis_lib.Redis, "set", unreachable)
    resp = post(client, product_event("ev-r1"))
    assert resp.status_code == 200 and resp.get_json()["status"] == "queued"
    monkeypatch.undo()
    assert event_row("ev-r1").status == "queued"
    assert drain_events(linger=0).by_status == {"applied": 1}
    assert CachedProduct.query.count() == 1


def test_openapi_documents_the_endpoint(client):
    """/openapi.json documents the catalog webhook with its signature header and answers."""
    doc = client.get("/openapi.json").get_json()
    operation = doc["paths"][PATH]["post"]
    assert set(operation["responses"]) >= {"200", "400", "401", "503"}
    assert operation["security"] == [{"hubSignature": []}]
    assert "CatalogEvent" in doc["components"]["schemas"]


def test_created_and_removed_products_move_the_stores_count(client, merchant):
    """The store's kept product count (the products page's total) follows creations and removals, and a
    repeated or stale event does not move it twice."""

    def count() -> int:
        db.session.expire_all()
        return db.session.scalar(db.select(CachedStore.product_count).filter_by(user_id=merchant.id))

    assert count() == 0
    post(client, product_event("ev-c1", product_id="p-1"))
    post(client, product_event("ev-c2", product_id="p-2"))
    post(client, product_event("ev-c2", product_id="p-2"))  # the same delivery again
    post(client, product_event("ev-c3", product_id="p-1", price=5.0))  # an update: no new product
    assert count() == 2
    post(client, product_event("ev-c4", product_id="p-2", action="removed"))
    post(client, product_event("ev-c5", product_id="p-2", action="removed"))  # already gone
    post(client, product_event("ev-c6", product_id="p-missing", action="removed"))
    assert count() == 1 == db.session.scalar(db.select(db.func.count()).select_from(CachedProduct))


def test_group_events_renew_the_stores_groups_version(client, merchant):
    """A created, renamed or removed group gives the store a new groups_version (the products page's cached group
    names are keyed by it); a repeated, unchanged group event keeps it."""

    def version() -> str:
        db.session.expire_all()
        return db.session.scalar(db.select(CachedStore.groups_version).filter_by(user_id=merchant.id))

    group = {
        "id": "g-1",
        "store_id": STORE,
        "user_id": EVOTOR_USER,
        "name": "Кофе",
        "updated_at": "2024-05-01T10:00:00",
    }
    seen = [version()]
    post(client, {"id": "ev-g1", "type": "ProductGroupEvent", "action": "created", "payload": group})
    seen.append(version())
    post(client, {"id": "ev-g2", "type": "ProductGroupEvent", "action": "updated", "payload": group})  # no change
    assert version() == seen[-1]
    renamed = {**group, "name": "Чай", "updated_at": "2024-05-02T10:00:00"}
    post(client, {"id": "ev-g3", "type": "ProductGroupEvent", "action": "updated", "payload": renamed})
    seen.append(version())
    post(client, {"id": "ev-g4", "type": "ProductGroupEvent", "action": "removed", "payload": renamed})
    seen.append(version())
    assert len(set(seen)) == 4


def test_a_body_in_another_json_encoding_is_queued_as_parsed(client, app, merchant):
    """JSON may come as UTF-16: it is verified on the bytes received, kept as the parsed event, and applied."""
    body = json.dumps(product_event("ev-u16", price=321)).encode("utf-16")
    resp = client.post(PATH, data=body, headers=signed(body))
    assert resp.status_code == 200 and resp.get_json()["status"] == "queued"
    assert event_row("ev-u16").status == "applied"
    assert CachedProduct.query.one().price == Decimal("321.00")


def test_a_database_failure_while_draining_marks_nothing_failed(client, app, merchant):
    """The database refusing a statement mid-batch (here: the product update, as a deadlock or a lost connection
    would) is not the events' fault: the drain stops with the error, every event stays queued, and the next drain
    applies them all."""
    import sqlalchemy as sa

    app.config["RUN_JOBS_INLINE"] = False
    for i in range(3):
        post(client, product_event(f"ev-d{i}", product_id=f"p-{i}"))
    drain_events(linger=0)  # creates the three products
    for i in range(3):
        post(client, product_event(f"ev-e{i}", product_id=f"p-{i}", price=500 + i))

    def refuse(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE CACHED_PRODUCTS"):
            raise sa.exc.OperationalError(statement, {}, Exception("Deadlock found when trying to get lock"))

    sa.event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        with pytest.raises(sa.exc.OperationalError):
            drain_events(linger=0)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", refuse)
    assert [event_row(f"ev-e{i}").status for i in range(3)] == ["queued"] * 3
    assert drain_events(linger=0).by_status == {"applied": 3}
    assert sorted(p.price for p in CachedProduct.query.all()) == [
        Decimal("500.00"),
        Decimal("501.00"),
        Decimal("502.00"),
    ]
