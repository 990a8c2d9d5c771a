"""The queue of Evotor catalog events: the intake records and wakes, the drainer applies in batches.

Intake (:func:`accept_event`) only checks the event's form and records it, durably, as a ``queued`` row of
``webhook_events`` (its unique id makes a repeated delivery a ``duplicate`` that changes nothing), then wakes the
drainer; Evotor gets its answer in a few milliseconds whatever the mirror is doing. :func:`drain_events` (an RQ
job, woken by the intake and swept every minute by the schedule) applies queued events in arrival order, in
batches of one transaction each, and marks each row ``applied``, ``ignored`` (stale, unknown store, nothing new,
unknown type), ``unknown_user`` or ``failed`` (an error of that event alone: the others of its batch still apply).
Then one debounced sync per merchant whose mirror changed (``services/sync/starts.py``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ...extensions import db
from ...locks import merchant_lock
from ...models import WebhookEvent, utcnow
from ...queues import HIGH, enqueue
from ...redis_conn import get_redis
from ..evotor_catalog.versions import bump_content_version
from ..sync.starts import schedule_debounced_sync
from .apply import Applied, apply_queued
from .form import ACTIONS, DUPLICATE, EVENT_TYPES, FAILED, IGNORED, QUEUED, EventOutcome, read_event, require_ids
from .signature import Merchant

log = logging.getLogger(__name__)

DRAIN_JOB = "evosync.jobs.catalog.drain_catalog_events_job"
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


def accept_event(body: Any, raw: bytes) -> EventOutcome:
    """Record a verified event for the drainer (committed) and wake it; EventError if the event is unreadable.

    ``raw``: the body as received (kept until the event is applied). A repeated delivery answers ``duplicate``
    and records nothing; a type or action we do not handle is recorded as ``ignored`` and not queued.
    """
    event_id, event_type, action, payload = read_event(body)
    known = event_type in EVENT_TYPES and action in ACTIONS
    if known:
        require_ids(event_type, payload)
    status = QUEUED if known else IGNORED
    try:
        db.session.execute(  # on the table, not the mapped class: the ORM's bulk-insert path costs 0.3 ms here
            WebhookEvent.__table__.insert().values(
                event_id=event_id,
                event_type=f"{event_type}.{action}"[:64],
                status=status,
                body=_bodytext_of(raw, body) if known else None,
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


def _bodytext_of(raw: bytes, body: Any) -> str:
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
    redis = get_redis()
    if force:
        redis.set(DRAIN_MARKER, "1", ex=DRAIN_MARKER_TTL)
    elif not redis.set(DRAIN_MARKER, "1", nx=True, ex=DRAIN_MARKER_TTL):
        return  # a drain is already wanted
    try:
        # Ahead of queued syncs: the events are seconds of work, and the syncs they lead to wait for them.
        enqueue(DRAIN_JOB, queue=HIGH, title="Apply queued Evotor catalog events", retries=2, at_front=True)
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
        applied = apply_queued(row.body, merchants)
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
