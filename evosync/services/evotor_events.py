"""Evotor catalog-change events: verify and queue each delivery, apply queued events in batches, debounce a sync.

An event is ``{"id", "timestamp", "type", "action", "payload"}`` with ``type`` one of ProductEvent,
ProductGroupEvent, ProductImageEvent, StoreEvent and ``action`` created, updated or removed; the payload
is the resource with its ``user_id`` (Evotor's, ``01-…``) and ``store_id``.

Signature: ``X-Hub-Signature: sha1=<hex HMAC-SHA1(raw body, secret)>``, compared in constant time. The
secret is the app-wide ``EVOTOR_WEBHOOK_SECRET`` (the partner secret Evotor holds for our application),
or, for a merchant whose ``EvotorConnection.webhook_signing_secret`` is set, that merchant's own secret
(it authenticates events of that merchant only). Either one verifies.

Intake (:func:`accept_event`) only checks the event's form and records it, durably, as a ``queued`` row of
``webhook_events`` (its unique id makes a repeated delivery a ``duplicate`` that changes nothing), then wakes the
drainer; Evotor gets its answer in a few milliseconds whatever the mirror is doing. :func:`drain_events` (an RQ
job, woken by the intake and swept every minute by the schedule) applies queued events in arrival order, in
batches of one transaction each, and marks each row ``applied``, ``ignored`` (stale, unknown store, nothing new,
unknown type), ``unknown_user`` or ``failed`` (an error of that event alone: the others of its batch still apply).
Out-of-order deliveries: an update older than the mirror's ``updated_at`` is ignored.

Debounce: the first changing event of a burst sets ``evosync:sync:debounce:<user_id>`` and schedules
``debounced_sync_job`` ``SYNC_DEBOUNCE_SECONDS`` later; later events of the burst find the key and add
nothing, so the burst becomes one sync, which reads the mirror with every change applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import CachedGroup, CachedProduct, CachedStore, EvotorConnection, SyncFilter, WebhookEvent, utcnow
from ..redis_conn import get_redis
from .evotor_catalog import add_to_product_count, bump_content_version, bump_groups_version, product_row

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature"
PRODUCT, GROUP, IMAGE, STORE = "ProductEvent", "ProductGroupEvent", "ProductImageEvent", "StoreEvent"
EVENT_TYPES = (PRODUCT, GROUP, IMAGE, STORE)
CREATED, UPDATED, REMOVED = "created", "updated", "removed"
ACTIONS = (CREATED, UPDATED, REMOVED)

# verify_signature problems
SIGNATURE_MISSING = "missing"
SIGNATURE_ALGORITHM = "unsupported_algorithm"
SIGNATURE_MISMATCH = "mismatch"
SIGNATURE_NOT_CONFIGURED = "not_configured"

# Intake answers (accept_event) and the statuses of webhook_events rows (drain_events)
QUEUED = "queued"
DUPLICATE = "duplicate"
APPLIED = "applied"
UNKNOWN_USER = "unknown_user"
IGNORED = "ignored"
FAILED = "failed"

DRAIN_MARKER = "evosync:events:drain-wanted"  # set by the intake (NX) when it wakes the drainer
DRAIN_MARKER_TTL = 600
DRAIN_LOCK = "catalog_events"  # locks kind: one drainer at a time keeps arrival order
DRAIN_BATCH = 500  # events per transaction
# A web process that has seen the wake-up marker set does not set it again for WAKE_WINDOW seconds; a drainer
# keeps polling the queue until it has found it empty for DRAIN_LINGER seconds (> WAKE_WINDOW), so an event of that
# window is always taken by a drainer that started after the marker was seen. Under a steady stream of events this
# saves a Redis round trip per event and keeps one drainer applying them in batches.
WAKE_WINDOW = 1.0
DRAIN_LINGER = 2.0
DRAIN_POLL = 0.2
DRAIN_MAX_SECONDS = 30.0  # then the drainer hands over to a new job, so other jobs of its queue get a turn
_WOKEN_KEY = "evosync_events_woken_at"  # app.extensions: when this process last saw the marker set

DEBOUNCE_KEY = "evosync:sync:debounce:{user_id}"
DEBOUNCE_MARGIN = 300  # the marker outlives the delay by this, so a lost job cannot block syncs for long
MAX_EVENT_ID = 128

# Product mirror columns and the payload key each comes from (a partial payload updates only what it has).
_PRODUCT_SOURCE = {
    "parent_id": "parent_id",
    "name": "name",
    "code": "code",
    "article_number": "article_number",
    "barcodes": "barcodes",
    "barcodes_text": "barcodes",
    "price": "price",
    "cost_price": "cost_price",
    "quantity": "quantity",
    "measure_name": "measure_name",
    "tax": "tax",
    "allow_to_sell": "allow_to_sell",
    "description": "description",
    "type": "type",
    "attributes_choices": "attributes_choices",
    "evotor_updated_at": "updated_at",
}


class EventError(ValueError):
    """The event cannot be read (HTTP 400); the message says what is wrong."""


@dataclass
class EventOutcome:
    """What the intake answers: ``queued`` (recorded, applied shortly), ``duplicate`` or ``ignored`` (a type or
    action we do not handle: recorded as such, so Evotor stops redelivering it)."""

    status: str
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "event_id": self.event_id}


@dataclass
class Applied:
    """One queued event applied: its row status, the merchants it belonged to and whether their mirror changed."""

    status: str
    user_ids: list[int] = field(default_factory=list)
    changed: bool = False
    stores: set[tuple[int, str]] = field(default_factory=set)  # (user, store) whose products changed


@dataclass
class DrainSummary:
    events: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    synced: dict[int, str] = field(default_factory=dict)  # user id -> schedule_debounced_sync's answer
    seconds: float = 0.0

    def count(self, status: str) -> None:
        self.events += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "by_status": dict(self.by_status),
            "synced": {str(k): v for k, v in self.synced.items()},
            "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------------------------- signature


def sign(body: bytes, secret: str) -> str:
    """The header value Evotor sends for ``body``: ``sha1=<hex>``."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def signature_header_problem(header: str | None) -> str | None:
    """What is wrong with the header's form (missing, not sha1), before any secret is looked up; else None."""
    if not header or not header.strip():
        return SIGNATURE_MISSING
    algorithm, sep, _given = header.strip().partition("=")
    if not sep or algorithm.strip().lower() != "sha1":
        return SIGNATURE_ALGORITHM
    return None


def verify_signature(body: bytes, header: str | None, event: Any) -> str | None:
    """None when ``header`` signs ``body`` with an accepted secret; else the problem (a SIGNATURE_* value).

    The app-wide secret is tried first: Evotor signs with it, and then no query is needed. Otherwise the own
    signing secrets of the merchants ``event`` (the parsed body) belongs to are tried, every one of them, so
    timing does not tell which one matched.
    """
    problem = signature_header_problem(header)
    if problem is not None:
        return problem
    given = header.strip().partition("=")[2].strip().lower().encode("utf-8", "replace")
    app_secret = current_app.config.get("EVOTOR_WEBHOOK_SECRET") or ""
    if app_secret and _signed_with(body, app_secret, given):
        return None
    secrets = [m.signing_secret for m in merchants_of(event) if m.signing_secret]
    if not secrets:
        return SIGNATURE_MISMATCH if app_secret else SIGNATURE_NOT_CONFIGURED
    matched = False
    for secret in secrets:
        matched |= _signed_with(body, secret, given)
    return None if matched else SIGNATURE_MISMATCH


def _signed_with(body: bytes, secret: str, given: bytes) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest().encode()
    return hmac.compare_digest(expected, given)


# --------------------------------------------------------------------------------------------- merchants


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def _store_id_of(payload: dict, event_type: str) -> str:
    if event_type == STORE:
        return _text(payload.get("id")) or _text(payload.get("store_id"))
    return _text(payload.get("store_id")) or _text(payload.get("storeId"))


@dataclass(frozen=True)
class Merchant:
    """What an event needs of a merchant's Evotor connection (not the whole row: no tokens to decrypt)."""

    user_id: int
    evotor_user_id: str | None
    signing_secret: str | None


_MERCHANT_COLUMNS = (
    EvotorConnection.user_id,
    EvotorConnection.evotor_user_id,
    EvotorConnection.webhook_signing_secret,
)


def merchants_of(body: Any) -> list[Merchant]:
    """The merchants a parsed event belongs to ([] when it names none we know, or cannot be read)."""
    if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
        return []
    return _merchants_for(body["payload"], str(body.get("type") or ""))


def _merchants_for(payload: dict, event_type: str) -> list[Merchant]:
    """By Evotor user id, else (manual connections) by a mirrored store, in one query each."""
    evotor_user = _text(payload.get("user_id")) or _text(payload.get("userId"))
    if evotor_user:
        row = db.session.execute(sa.select(*_MERCHANT_COLUMNS).filter_by(evotor_user_id=evotor_user[:64])).first()
        if row is not None:
            return [Merchant(*row)]
    store_id = _store_id_of(payload, event_type)
    if not store_id:
        return []
    rows = db.session.execute(
        sa.select(*_MERCHANT_COLUMNS)
        .join(CachedStore, CachedStore.user_id == EvotorConnection.user_id)
        .where(CachedStore.evotor_id == store_id[:64])
    )
    return [
        Merchant(*row) for row in rows if not evotor_user or not row.evotor_user_id or row.evotor_user_id == evotor_user
    ]


# --------------------------------------------------------------------------------------------- applying


def read_event(body: Any) -> tuple[str, str, str, dict]:
    """(event id, type, action, payload) of a parsed body, or EventError."""
    if not isinstance(body, dict):
        raise EventError("The body must be a JSON object")
    event_id = _text(body.get("id"))
    if not event_id:
        raise EventError("Field 'id' is required")
    if len(event_id) > MAX_EVENT_ID:
        raise EventError(f"Field 'id' is longer than {MAX_EVENT_ID} characters")
    event_type, action = body.get("type"), body.get("action")
    if not isinstance(event_type, str) or not event_type:
        raise EventError("Field 'type' is required")
    if not isinstance(action, str) or not action:
        raise EventError("Field 'action' is required")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise EventError("Field 'payload' must be an object")
    return event_id, event_type, action, payload


def accept_event(body: Any, raw: bytes) -> EventOutcome:
    """Record a verified event for the drainer (committed) and wake it; EventError if the event is unreadable.

    ``raw``: the body as received (kept until the event is applied). A repeated delivery answers ``duplicate``
    and records nothing; a type or action we do not handle is recorded as ``ignored`` and not queued.
    """
    event_id, event_type, action, payload = read_event(body)
    known = event_type in EVENT_TYPES and action in ACTIONS
    if known:
        _require_ids(event_type, payload)
    status = QUEUED if known else IGNORED
    try:
        db.session.execute(  # on the table, not the mapped class: the ORM's bulk-insert path costs 0.3 ms here
            WebhookEvent.__table__.insert().values(
                event_id=event_id,
                event_type=f"{event_type}.{action}"[:64],
                status=status,
                body=_body_text(raw, body) if known else None,
                processed_at=None if known else utcnow(),
            )
        )
        db.session.commit()
    except sa.exc.IntegrityError:  # delivered before (or twice at once: the other delivery queued it)
        db.session.rollback()
        return EventOutcome(DUPLICATE, event_id)
    if known:
        wake_drainer()
    return EventOutcome(status, event_id)


def _body_text(raw: bytes, body: Any) -> str:
    """The body as received (UTF-8, as Evotor sends it); another encoding JSON allows is kept as parsed."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps(body, ensure_ascii=False)


def wake_drainer() -> None:
    """Make sure a drainer runs soon (one job for a burst). A Redis failure only delays the events: they are
    committed, and the schedule sweeps the queue every minute."""
    inline = bool(current_app.config.get("RUN_JOBS_INLINE"))
    extensions = current_app.extensions
    now = time.monotonic()
    if not inline and now - extensions.get(_WOKEN_KEY, -WAKE_WINDOW) < WAKE_WINDOW:
        return  # a drainer starts (or lingers) after that sighting: see WAKE_WINDOW
    try:
        _set_marker_and_enqueue(force=False)
        extensions[_WOKEN_KEY] = now
    except Exception:  # noqa: BLE001 - Redis or RQ down: the periodic sweep applies the queued events
        log.warning("could not wake the catalog event drainer; the next sweep applies the events", exc_info=True)


def _set_marker_and_enqueue(force: bool) -> None:
    from ..jobs.catalog import drain_catalog_events_job
    from ..queues import HIGH, enqueue

    redis = get_redis()
    if force:
        redis.set(DRAIN_MARKER, "1", ex=DRAIN_MARKER_TTL)
    elif not redis.set(DRAIN_MARKER, "1", nx=True, ex=DRAIN_MARKER_TTL):
        return  # a drain is already wanted
    try:
        enqueue(drain_catalog_events_job, queue=HIGH, title="Apply queued Evotor catalog events", retries=2)
    except Exception:
        redis.delete(DRAIN_MARKER)  # no job is coming: the next event (or the sweep) tries again
        raise


def drain_events(batch_size: int = DRAIN_BATCH, linger: float | None = None) -> DrainSummary:
    """Apply every queued event, oldest first, one batch per transaction; one drainer at a time.

    After the queue runs dry the drainer keeps looking for ``linger`` seconds (DRAIN_LINGER in a worker, none when
    jobs run inline), and after DRAIN_MAX_SECONDS it hands over to a fresh job. A drainer that finds the lock taken
    leaves: the holder re-checks the wake-up marker after releasing it, so events that arrived meanwhile are
    applied by it or by the job they woke, never left behind.
    """
    from ..locks import merchant_lock

    if linger is None:
        linger = 0.0 if current_app.config.get("RUN_JOBS_INLINE") else DRAIN_LINGER
    summary = DrainSummary()
    started = time.monotonic()
    redis = get_redis()
    handed_over = False
    while not handed_over:
        with merchant_lock(DRAIN_LOCK, 0) as held:
            if not held:
                break
            empty_since = None
            while True:
                redis.delete(DRAIN_MARKER)
                if _drain_batch(batch_size, summary):
                    empty_since = None
                    if time.monotonic() - started > DRAIN_MAX_SECONDS:
                        _set_marker_and_enqueue(force=True)  # a successor job, behind the queue's other jobs
                        handed_over = True
                        break
                    continue
                now = time.monotonic()
                empty_since = now if empty_since is None else empty_since
                if now - empty_since >= linger:
                    break
                time.sleep(DRAIN_POLL)
        if handed_over or not redis.exists(DRAIN_MARKER):
            break
    summary.seconds = time.monotonic() - started
    if summary.events:
        log.info("catalog events applied", extra=summary.as_dict())
    return summary


def _drain_batch(batch_size: int, summary: DrainSummary) -> int:
    """Apply up to ``batch_size`` queued events in one transaction; how many were taken (0: none left).

    If the batch fails as a whole, it is rolled back and applied again one event per transaction, so only the
    failing event is marked ``failed``. A database failure (OperationalError) marks nothing: it propagates, the
    events stay queued, and the job's retry or the sweep applies them.
    """
    rows = db.session.execute(
        sa.select(WebhookEvent.id, WebhookEvent.body)
        .where(WebhookEvent.status == QUEUED)
        .order_by(WebhookEvent.id)
        .limit(batch_size)
    ).all()
    if not rows:
        db.session.rollback()
        return 0
    try:
        results = _apply_rows(rows)
    except sa.exc.OperationalError:  # the database, not the events (gone, deadlock, lock wait): all stay queued
        db.session.rollback()
        raise
    except Exception:  # noqa: BLE001 - one bad event must not hold the others back: retried one by one
        db.session.rollback()
        log.warning("a batch of catalog events failed; applying them one by one", exc_info=True)
        results = []
        for row in rows:
            try:
                results += _apply_rows([row])
            except sa.exc.OperationalError:
                db.session.rollback()
                raise
            except Exception as exc:  # noqa: BLE001 - this event alone: recorded as failed, kept for a look
                db.session.rollback()
                log.exception("catalog event failed", extra={"event_row": row.id})
                _mark_failed(row.id, f"{type(exc).__name__}: {exc}"[:500])
                db.session.commit()
                summary.count(FAILED)
    changed_users: set[int] = set()
    for applied in results:
        summary.count(applied.status)
        if applied.changed:
            changed_users.update(applied.user_ids)
    for user_id in sorted(changed_users):
        try:
            summary.synced[user_id] = schedule_debounced_sync(user_id)
        except Exception:  # noqa: BLE001 - the mirror is updated; the periodic refresh syncs later
            log.warning("could not schedule the sync after catalog events", extra={"user_id": user_id}, exc_info=True)
    return len(rows)


def _apply_rows(rows) -> list[Applied]:
    """Apply the rows' events and mark them (committed): one transaction for all of them."""
    merchants: dict[tuple[str, str, str], list[Merchant]] = {}
    results, stores = [], set()
    for row in rows:
        applied = _apply_queued(row.body, merchants)
        stores |= applied.stores
        results.append(applied)
    for user_id, store_id in sorted(stores):
        bump_content_version(user_id, store_id)
    now = utcnow()
    db.session.execute(  # one executemany for the batch's rows; their bodies are not needed any more
        _MARK_DONE,
        [
            {"row_id": row.id, "new_status": a.status, "owner": a.user_ids[0] if a.user_ids else None, "done": now}
            for row, a in zip(rows, results, strict=True)
        ],
    )
    db.session.commit()
    return results


_EVENTS = WebhookEvent.__table__
_MARK_DONE = (
    _EVENTS.update()
    .where(_EVENTS.c.id == sa.bindparam("row_id"))
    .values(status=sa.bindparam("new_status"), user_id=sa.bindparam("owner"), processed_at=sa.bindparam("done"))
    .values(body=None, error=None)
)


def _mark_failed(row_id: int, error: str) -> None:
    """The event's row: ``failed``, its body kept for a look (not committed)."""
    db.session.execute(
        _EVENTS.update().where(_EVENTS.c.id == row_id).values(status=FAILED, processed_at=utcnow(), error=error)
    )


def _apply_queued(raw: str | None, merchants: dict[tuple[str, str, str], list[Merchant]]) -> Applied:
    """Apply one queued event to the mirror of the merchant(s) it belongs to (not committed)."""
    body = json.loads(raw or "null")
    _event_id, event_type, action, payload = read_event(body)  # checked at intake; raises only if tampered with
    store_id = _store_id_of(payload, event_type)
    key = (event_type, _text(payload.get("user_id")) or _text(payload.get("userId")), store_id)
    if key not in merchants:
        merchants[key] = _merchants_for(payload, event_type)
    user_ids = [m.user_id for m in merchants[key]]
    if not user_ids:
        return Applied(UNKNOWN_USER)
    applied = Applied(IGNORED, user_ids)
    for user_id in user_ids:
        if _apply(user_id, event_type, action, payload):
            applied.changed = True
            if event_type == PRODUCT:
                applied.stores.add((user_id, store_id[:64]))
    if applied.changed:
        applied.status = APPLIED
    return applied


def _require_ids(event_type: str, payload: dict) -> None:
    if not _text(payload.get("id")):
        raise EventError("Field 'payload.id' is required")
    if event_type != STORE and not _store_id_of(payload, event_type):
        raise EventError("Field 'payload.store_id' is required")
    if event_type == IMAGE and not _product_id_of_image(payload):
        raise EventError("Field 'payload.product_id' is required")


def _apply(user_id: int, event_type: str, action: str, payload: dict) -> bool:
    """Change the user's mirror (not committed); True when something changed."""
    if event_type == STORE:
        return _apply_store(user_id, action, payload)
    store_id = _store_id_of(payload, event_type)[:64]
    if event_type == PRODUCT:
        return _apply_product(user_id, store_id, action, payload)
    if event_type == GROUP:
        return _apply_group(user_id, store_id, action, payload)
    return _apply_image(user_id, store_id, action, payload)


def _store_mirrored(user_id: int, store_id: str) -> bool:
    """Whether the store is in the user's mirror: only then may an event add rows to it (an update or removal
    finds its row, or nothing, by the store id anyway)."""
    if db.session.scalar(sa.select(CachedStore.id).filter_by(user_id=user_id, evotor_id=store_id)) is None:
        log.info("catalog event for a store not mirrored yet: the next refresh brings it", extra={"user_id": user_id})
        return False
    return True


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _is_stale(incoming: Any, stored: str | None) -> bool:
    """The event's resource is older than what the mirror holds (an out-of-order delivery)."""
    new, old = _parse_time(incoming), _parse_time(stored)
    return bool(new and old and new < old)


_PRODUCTS = CachedProduct.__table__  # the table itself: the ORM's statement path costs ~0.3 ms per statement
_PRODUCT_COLUMNS = [_PRODUCTS.c[column] for column in _PRODUCT_SOURCE]


def _apply_product(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    """In Core statements: the busiest event (a price or stock change) reads one narrow row and writes the
    columns that changed, without building ORM objects. The caller renews the store's content_version."""
    product_id = _text(payload.get("id"))[:64]
    key = {"user_id": user_id, "store_evotor_id": store_id, "evotor_id": product_id}
    row = db.session.execute(
        sa.select(_PRODUCTS.c.id, *_PRODUCT_COLUMNS).where(*(_PRODUCTS.c[name] == value for name, value in key.items()))
    ).first()
    if action == REMOVED:
        if row is None:
            return False
        db.session.execute(sa.delete(CachedProduct).where(CachedProduct.id == row.id))
        add_to_product_count(user_id, store_id, -1)
        return True
    if row is not None and _is_stale(payload.get("updated_at"), row.evotor_updated_at):
        return False
    values = product_row(payload)
    if row is None:
        if not _store_mirrored(user_id, store_id):
            return False
        db.session.execute(sa.insert(CachedProduct).values(**key, refreshed_at=utcnow(), **values))
        add_to_product_count(user_id, store_id, 1)
        return True
    if "name" not in payload:  # a partial payload: only the fields it carries
        values = {column: values[column] for column, source in _PRODUCT_SOURCE.items() if source in payload}
    changes = {column: value for column, value in values.items() if getattr(row, column) != value}
    if not changes:
        return False
    db.session.execute(_PRODUCTS.update().where(_PRODUCTS.c.id == row.id).values(**changes, refreshed_at=utcnow()))
    return True


def _apply_group(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    changed = _change_group(user_id, store_id, action, payload)
    if changed:
        bump_groups_version(user_id, store_id)
    return changed


def _change_group(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    group_id = _text(payload.get("id"))[:64]
    key = {"user_id": user_id, "store_evotor_id": store_id, "evotor_id": group_id}
    row = db.session.scalar(sa.select(CachedGroup).filter_by(**key))
    if action == REMOVED:
        if row is None:
            return False
        db.session.delete(row)
        db.session.execute(sa.delete(SyncFilter).filter_by(user_id=user_id, entity_type="group", entity_id=group_id))
        return True
    if row is not None and _is_stale(payload.get("updated_at"), row.evotor_updated_at):
        return False
    values = {
        "parent_id": _text(payload.get("parent_id"))[:64] or None,
        "name": _text(payload.get("name"))[:255],
        "attributes": payload.get("attributes") or None,
        "evotor_updated_at": payload.get("updated_at"),
    }
    if row is None:
        if not _store_mirrored(user_id, store_id):
            return False
        db.session.add(CachedGroup(**key, refreshed_at=utcnow(), **values))
        return True
    changed = False
    for column, value in values.items():
        if getattr(row, column) != value:
            setattr(row, column, value)
            changed = True
    if changed:
        row.refreshed_at = utcnow()
    return changed


def _product_id_of_image(payload: dict) -> str:
    return _text(payload.get("product_id")) or _text(payload.get("productId"))


def _apply_image(user_id: int, store_id: str, action: str, payload: dict) -> bool:
    product = db.session.scalar(
        sa.select(CachedProduct).filter_by(
            user_id=user_id, store_evotor_id=store_id, evotor_id=_product_id_of_image(payload)[:64]
        )
    )
    if product is None:
        return False
    image_id = _text(payload.get("id"))[:64]
    if action == REMOVED:
        if product.image_id != image_id:
            return False
        product.image_id = product.image_url = product.image_updated_at = None
        product.image_checked_for = None  # the next refresh looks for another image of the product
        return True
    url = _text(payload.get("url"))[:1024] or None
    updated = (
        payload.get("updated_at") or payload.get("updatedAt") or payload.get("created_at") or payload.get("createdAt")
    )
    if (product.image_id, product.image_url, product.image_updated_at) == (image_id, url, updated):
        return False
    product.image_id, product.image_url, product.image_updated_at = image_id, url, updated
    product.image_checked_for = product.evotor_updated_at or ""  # looked up, as far as the refresh is concerned
    return True


def _apply_store(user_id: int, action: str, payload: dict) -> bool:
    store_id = _store_id_of(payload, STORE)[:64]
    store = db.session.scalar(sa.select(CachedStore).filter_by(user_id=user_id, evotor_id=store_id))
    if action == REMOVED:
        if store is None:
            return False
        for model in (CachedProduct, CachedGroup):
            db.session.execute(sa.delete(model).filter_by(user_id=user_id, store_evotor_id=store_id))
        db.session.execute(
            sa.delete(SyncFilter).where(
                SyncFilter.user_id == user_id,
                sa.or_(
                    sa.and_(SyncFilter.entity_type == "store", SyncFilter.entity_id == store_id),
                    sa.and_(SyncFilter.entity_type == "group", SyncFilter.parent_entity_id == store_id),
                ),
            )
        )
        db.session.delete(store)
        return True
    if store is not None and _is_stale(payload.get("updated_at"), store.evotor_updated_at):
        return False
    values = {
        "name": _text(payload.get("name"))[:255],
        "address": _text(payload.get("address"))[:512],
        "evotor_updated_at": payload.get("updated_at"),
    }
    if store is None:
        db.session.add(CachedStore(user_id=user_id, evotor_id=store_id, refreshed_at=utcnow(), **values))
        return True
    changed = False
    for column, value in values.items():
        if getattr(store, column) != value:
            setattr(store, column, value)
            changed = True
    return changed


# --------------------------------------------------------------------------------------------- debounce


def debounce_key(user_id: int) -> str:
    return DEBOUNCE_KEY.format(user_id=user_id)


def clear_debounce(user_id: int) -> None:
    get_redis().delete(debounce_key(user_id))


def schedule_debounced_sync(user_id: int) -> str:
    """Make sure one sync follows within SYNC_DEBOUNCE_SECONDS: ``scheduled``, ``pending`` or ``skipped: …``."""
    from ..jobs.fanout import debounced_sync_job, sync_blocker
    from ..queues import HIGH, enqueue, enqueue_in

    delay = int(current_app.config.get("SYNC_DEBOUNCE_SECONDS") or 0)
    redis = get_redis()
    key = debounce_key(user_id)
    if not redis.set(key, "1", nx=True, ex=delay + DEBOUNCE_MARGIN):
        return "pending"
    reason = sync_blocker(user_id)
    if reason:
        redis.delete(key)
        log.info("catalog event: no sync", extra={"user_id": user_id, "reason": reason})
        return f"skipped: {reason}"
    options = {"queue": HIGH, "title": f"VK sync after Evotor events, user {user_id}", "timeout": 300, "retries": 2}
    try:
        if delay > 0:
            enqueue_in(delay, debounced_sync_job, user_id, **options)
        else:
            enqueue(debounced_sync_job, user_id, **options)
    except Exception:
        redis.delete(key)
        raise
    return "scheduled"
