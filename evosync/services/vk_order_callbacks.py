"""VK's Callback API for orders: check and record each event at once, then read the order it names from VK.

:func:`accept_callback` (POST /vk/callback): the secret is checked in constant time (403 and nothing stored when
wrong), the event is recorded under VK's unique ``event_id`` (a repeat changes nothing) and answered ``ok`` at once;
:func:`drain_callbacks` (a job) then reads the order's *current* state from VK and stores it like the poll does
(``services/vk_orders.py``), so repeated or out-of-order deliveries cannot put an old state over a newer one.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from .. import locks
from ..clients.errors import VkApiError
from ..extensions import db
from ..models import VkConnection, VkOrderEvent, VkOrderSettings, utcnow
from ..queues import HIGH, enqueue
from ..redis_conn import get_redis
from .connection_problems import NotConnectedError
from .connections import vk_client_for
from .vk_orders import (
    APPLIED,
    CONFIRMATION,
    DRAIN_MARKER,
    FAILED,
    IGNORED,
    INGEST_LOCK,
    MAX_EVENT_ID,
    MAX_VK_ID,
    ORDER_EVENTS,
    QUEUED,
    VIA_CALLBACK,
    Stored,
    after_store,
    connection_of,
    read_items,
    read_order,
    store_order,
    vk_int,
    vk_text,
)

log = logging.getLogger(__name__)

DRAIN_JOB = "evosync.jobs.orders.drain_vk_order_events_job"


class CallbackRefused(Exception):
    """The callback is refused with ``status`` and a plain-text ``reason``; nothing was stored."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class _Candidate:
    user_id: int
    enabled: bool
    secret: str
    confirmation: str


def _candidates(group_id: int) -> list[_Candidate]:
    rows = db.session.execute(
        sa.select(VkOrderSettings)
        .join(VkConnection, VkConnection.user_id == VkOrderSettings.user_id)
        .where(VkConnection.group_id == group_id)
        .order_by(VkOrderSettings.user_id)
    ).scalars()
    return [_Candidate(r.user_id, r.enabled, r.callback_secret or "", r.confirmation_code or "") for r in rows]


def _matching(candidates: list[_Candidate], given: str) -> _Candidate | None:
    """The merchant whose secret ``given`` is, compared in constant time against every one (no early exit)."""
    found = None
    given_bytes = given.encode("utf-8", "replace")
    for candidate in candidates:
        expected = candidate.secret.encode("utf-8", "replace")
        if hmac.compare_digest(expected, given_bytes) and candidate.secret:
            found = found or candidate
    return found


def accept_callback(body: Any, raw: bytes) -> tuple[str, bool]:
    """Answer one Callback API request: (the text VK wants, whether an event was queued). CallbackRefused when
    the request is refused (nothing is stored then)."""
    if not isinstance(body, dict):
        raise CallbackRefused(400, "The body must be a JSON object")
    kind = body.get("type")
    group_id = vk_int(body.get("group_id"))
    if not isinstance(kind, str) or not kind:
        raise CallbackRefused(400, "Field 'type' is required")
    if not group_id or not 0 < group_id < MAX_VK_ID:
        raise CallbackRefused(400, "Field 'group_id' must be a community id")
    candidates = _candidates(group_id)
    if kind == CONFIRMATION:
        # VK's handshake carries no secret; the answer is the code VK showed the merchant (public by design).
        codes = [c.confirmation for c in candidates if c.confirmation]
        if not codes:
            raise CallbackRefused(403, "This community has no confirmation code in EvoSync (orders settings)")
        return codes[0], False
    secret = body.get("secret")
    match = _matching(candidates, secret if isinstance(secret, str) else "")
    if match is None:
        raise CallbackRefused(403, "Unknown community or wrong secret key")
    if kind not in ORDER_EVENTS or not match.enabled:
        return "ok", False  # events EvoSync does not use: acknowledged, so VK stops sending them again
    event_id = vk_text(body.get("event_id")).strip()
    if not event_id:
        raise CallbackRefused(400, "Field 'event_id' is required")
    if len(event_id) > MAX_EVENT_ID:
        raise CallbackRefused(400, f"Field 'event_id' is longer than {MAX_EVENT_ID} characters")
    order = body.get("object")
    if not isinstance(order, dict) or not 0 < (vk_int(order.get("id")) or 0) < MAX_VK_ID:
        raise CallbackRefused(400, "Field 'object.id' (the order id) is required")
    try:
        db.session.execute(
            VkOrderEvent.__table__.insert().values(
                event_id=event_id,
                user_id=match.user_id,
                group_id=group_id,
                event_type=kind,
                vk_order_id=vk_int(order.get("id")),
                status=QUEUED,
                body=json.dumps(_without_key(body), ensure_ascii=False),
                received_at=utcnow(),
            )
        )
        db.session.execute(
            sa.update(VkOrderSettings).where(VkOrderSettings.user_id == match.user_id).values(last_callback_at=utcnow())
        )
        db.session.commit()
    except sa.exc.IntegrityError:  # delivered before: nothing changes
        db.session.rollback()
        return "ok", False
    wake_drainer()
    return "ok", True


def _without_key(body: dict) -> dict:
    """The event as kept for the worker: everything but the secret key it carried."""
    kept = dict(body)
    kept.pop("secret", None)
    return kept


def wake_drainer() -> None:
    """A drain job soon (one for a burst); if Redis is down the minute poll's sweep drains the events."""
    try:
        if not current_app.config.get("RUN_JOBS_INLINE") and not get_redis().set(DRAIN_MARKER, "1", nx=True, ex=120):
            return
        enqueue(DRAIN_JOB, queue=HIGH, title="Read VK orders named by callbacks", retries=2)
    except Exception:  # noqa: BLE001 - recorded; the sweep takes it
        log.warning("could not wake the VK order event drainer", exc_info=True)


def drain_callbacks(limit: int = 200) -> dict[str, int]:
    """Read from VK the orders queued callbacks name (oldest first) and store them; counts by outcome."""
    try:
        get_redis().delete(DRAIN_MARKER)
    except Exception:  # noqa: BLE001
        log.warning("could not clear the drain marker", exc_info=True)
    counts: dict[str, int] = {}
    events = db.session.scalars(
        sa.select(VkOrderEvent).where(VkOrderEvent.status == QUEUED).order_by(VkOrderEvent.id).limit(limit)
    ).all()
    by_user: dict[int, list[VkOrderEvent]] = {}
    for event in events:
        by_user.setdefault(event.user_id, []).append(event)
    for user_id, user_events in by_user.items():
        for status in _drain_user(user_id, user_events):
            counts[status] = counts.get(status, 0) + 1
    return counts


def _drain_user(user_id: int, events: list[VkOrderEvent]) -> list[str]:
    outcomes: list[str] = []
    results: list[Stored] = []
    conn = connection_of(user_id)
    with locks.merchant_lock(INGEST_LOCK, user_id, ttl=120, wait=30) as held:
        if not held:
            return outcomes  # stay queued: the next wake-up or sweep takes them
        client = vk_client_for(conn) if conn is not None and conn.group_id == events[0].group_id else None
        done: dict[int, Stored | None] = {}  # one read per order however many events name it
        for event in events:
            body = json.loads(event.body or "{}")
            order_copy = body.get("object") if isinstance(body.get("object"), dict) else {}
            vk_order_id = int(event.vk_order_id or 0)
            status, error = APPLIED, None
            if client is None:
                status, error = IGNORED, "the community is not this merchant's connected one any more"
            elif vk_order_id not in done:
                try:
                    order = read_order(client, vk_order_id, vk_int(order_copy.get("user_id")))
                    if order is None:
                        raise VkApiError(1436, "Order not found")
                    items = read_items(client, order)
                    done[vk_order_id] = store_order(user_id, event.group_id, order, items, VIA_CALLBACK)
                except (VkApiError, NotConnectedError) as exc:
                    db.session.rollback()
                    # VK cannot be read now: a new order is kept from the event's own copy; the poll completes it.
                    stored = store_order(user_id, event.group_id, order_copy, None, VIA_CALLBACK, only_if_new=True)
                    done[vk_order_id] = stored
                    status, error = FAILED, f"VK could not be read ({exc}); the minute poll catches up"
                    log.warning("vk order callback: VK not readable", extra={"user_id": user_id, "error": str(exc)})
            if done.get(vk_order_id) is not None:
                results.append(done[vk_order_id])
            event.status, event.error, event.processed_at = status, error, utcnow()
            if status == APPLIED:
                event.body = None
            db.session.commit()
            outcomes.append(status)
    after_store(user_id, results)
    return outcomes
