"""One sync run for one merchant: read VK, plan, guard, apply; repeat while VK's answers left doubt.

The same function serves "Sync now", the scheduled and webhook jobs, and the CLI. Each pass re-reads the VK
market first (execute-batched market.get pages), so a write whose answer was lost is adopted, not repeated.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext

from ... import locks
from ...clients.errors import VkApiError, VkAuthError, VkFloodControl, VkMarketDisabled
from ...clients.evotor import EvotorClient
from ...extensions import db
from ...models import ConnectionState, RunStatus, SyncRun, VkConnection, utcnow
from ...queues import enqueue_in
from ..connection_problems import NotConnectedError
from ..connections import evotor_client_for, get_evotor_connection, record_failure, vk_client_for
from ..evotor_catalog.refresh import pause_evotor
from ..refreshes import CATALOG_JOB, REFRESH_TIMEOUT
from ..vk_catalog.refresh import refresh_vk_catalog
from . import photo_flow
from . import plan_model as p
from .apply import Applier
from .apply_common import ApplyResult, SyncStopped
from .apply_photos import PhotoSource
from .dead_runs import SYNC_LOCK, close_abandoned, run_abandoned
from .image_lookup import ImageLookup, images_due
from .loader import load_plan_input
from .plan import build_plan
from .variants_mode import probe_variants_mode

log = logging.getLogger(__name__)

MAX_PASSES = 3
LOCK_KEY = locks.LOCK_KEY.replace("{kind}", SYNC_LOCK)  # its key, "evosync:lock:sync:{user_id}"
GUARD_SHARE = 0.30  # a run may remove at most this share of the merchant's published items ...
GUARD_MIN = 10  # ... unless it removes this many or fewer
FLOOD_PAUSE = dt.timedelta(minutes=30)
MAX_FAILURES_KEPT = 500
MAX_REMOVALS_SHOWN = 500

TRIGGERS = ("manual", "schedule", "webhook", "cli", "retry", "confirm")


@dataclass
class Preview:
    plan: p.Plan
    guarded: bool
    vk_mirror_age: dt.datetime | None = None
    settings: p.Settings = dataclasses.field(default_factory=p.Settings)


def guard_holds(plan: p.Plan) -> bool:
    """The mass-removal guard: more than 30 % of the published items (and more than 10) would go."""
    removals = plan.removal_count
    return removals > GUARD_MIN and removals > GUARD_SHARE * max(plan.published, 1)


def _usable_vk_connection(user_id: int) -> VkConnection:
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    if conn is None or not conn.access_token or not conn.group_id:
        raise NotConnectedError(gettext("Connect your VK community on the Connections page first."))
    if conn.state == ConnectionState.BROKEN:
        raise NotConnectedError(
            gettext(
                "The VK connection needs your attention (see the Connections page): %(reason)s",
                reason=conn.last_error or "",
            )
        )
    if conn.paused_until and conn.paused_until > utcnow():
        raise NotConnectedError(
            gettext(
                "VK asked us to slow down; syncing resumes after %(when)s UTC.",
                when=f"{conn.paused_until:%Y-%m-%d %H:%M}",
            )
        )
    return conn


def preview(user_id: int) -> Preview:
    """The dry-run plan from the mirrors as they are (no VK request)."""
    conn = _usable_vk_connection(user_id)
    data, _urls = load_plan_input(user_id, int(conn.group_id))
    plan = build_plan(data)
    return Preview(plan=plan, guarded=guard_holds(plan), settings=data.settings)


def start_run(user_id: int, trigger: str = "manual", dry_run: bool = False) -> SyncRun:
    run = SyncRun(
        user_id=user_id, trigger=trigger if trigger in TRIGGERS else "manual", dry_run=dry_run, status=RunStatus.QUEUED
    )
    db.session.add(run)
    db.session.commit()
    return run


def run_sync(
    user_id: int,
    *,
    run_id: int | None = None,
    trigger: str = "manual",
    confirm_removals: bool = False,
    time_slice: bool = False,
) -> SyncRun:
    """Run a sync to the end and return its SyncRun row; never raises for VK or Evotor trouble.

    With ``time_slice`` (the sync job) a run stops starting new photo windows after SYNC_SLICE_SECONDS and
    says so in ``details["continues"]``: the job then queues the next run behind the other merchants' syncs, so
    one large catalog never holds a worker for its whole first publication.

    One merchant's sync never runs twice at once (a Redis lock); a run that finds the lock taken is
    closed as cancelled, since the running one publishes the same catalog.
    """
    run = db.session.get(SyncRun, run_id) if run_id else None
    if run is None or run.user_id != user_id:
        run = start_run(user_id, trigger)
    with locks.merchant_lock(SYNC_LOCK, user_id) as held:
        if held:
            return _run_locked(run, user_id, confirm_removals, time_slice)
    run.status, run.finished_at = RunStatus.CANCELLED, utcnow()
    run.error = "Another sync of this shop was already running; it covers this request."
    db.session.commit()
    return run


def _run_locked(run: SyncRun, user_id: int, confirm_removals: bool, time_slice: bool) -> SyncRun:
    _close_dead_runs(user_id, run.id)
    run.status, run.started_at, run.error = RunStatus.RUNNING, utcnow(), None
    run.progress_done = run.progress_total = 0
    db.session.commit()
    total = ApplyResult()
    requests = 0
    waiting: list[p.Remove] = []
    try:
        conn = _usable_vk_connection(user_id)
        group_id = int(conn.group_id)
        client = vk_client_for(conn)
        evotor = _evotor_client(user_id)
        lookup = ImageLookup(_unless_paused(user_id, evotor), user_id)
        photos = PhotoSource(
            current_app.config["VK_DEFAULT_PHOTO_PATH"],
            evotor.download if evotor is not None else None,
            {},
            bulk_files=photo_flow.bulk_files_for(user_id),
            lookup=lookup,
        )
        slice_seconds = float(current_app.config.get("SYNC_SLICE_SECONDS") or 0) if time_slice else 0.0
        deadline = time.monotonic() + slice_seconds if slice_seconds > 0 else None
        probe_variants_mode(user_id, conn, client)  # counted in client.requests_made
        for pass_no in range(MAX_PASSES + 1):  # the last pass only re-reads VK, so the mirror ends up true
            refresh = refresh_vk_catalog(user_id)
            requests += getattr(refresh, "vk_requests", 0) or 0
            if refresh.status != "ok":
                raise RunFailed(refresh.message or "The VK market could not be read.")
            data, image_urls = load_plan_input(user_id, group_id)
            photos.use_image_urls(image_urls)
            lookup.use_due(images_due(user_id))
            plan = build_plan(data)
            allow_removals = confirm_removals or not guard_holds(plan)
            if pass_no == 0:
                _record_plan(run, plan)
            waiting = [] if allow_removals else [r for r in plan.removals if not r.duplicate]
            if not (plan.has_writes_besides_removals or (allow_removals and plan.removals)):
                break
            if pass_no == MAX_PASSES:  # VK's answers left doubt to the end: say what is not done yet
                _unconfirmed(run, total, plan, allow_removals)
                break
            applier = Applier(
                user_id=user_id,
                group_id=group_id,
                client=client,
                photos=photos,
                progress=lambda done: _progress(run, done),
                deadline=deadline,
            )
            result = applier.apply(plan, allow_removals=allow_removals)
            total.merge(result)
            if result.sliced:
                break  # the run's time slice is used up: a next run (queued behind others) does the rest
        run.details = {**(run.details or {}), "photos": _photo_flow_details(photos), "images": lookup.summary()}
        if total.sliced:
            run.details["continues"] = {"items_left": total.sliced, "slice_seconds": slice_seconds}
        if lookup.stopped_for is not None:
            _images_after_pause(user_id, lookup.stopped_for)
        _finish(run, total, requests + client.requests_made, waiting)
    except SyncStopped as stop:
        db.session.rollback()
        _stop(run, user_id, stop.error, total, requests)
    except (NotConnectedError, RunFailed) as exc:
        db.session.rollback()
        _fail(run, total, str(exc))
    except Exception:
        db.session.rollback()
        log.exception("sync run crashed", extra={"user_id": user_id, "run_id": run.id})
        _fail(run, total, "An unexpected error stopped the sync; it has been logged and will be retried.")
    log.info(
        "sync run finished",
        extra={
            "user_id": user_id,
            "run_id": run.id,
            "status": run.status,
            "items_created": run.created_count,
            "items_updated": run.updated_count,
            "items_removed": run.removed_count,
            "duplicates_removed": (run.details or {}).get("duplicates_removed", 0),
            "items_failed": run.failed_count,
            "api_requests": run.api_requests,
        },
    )
    return run


def _close_dead_runs(user_id: int, current_id: int) -> None:
    """We hold the merchant's lock, so by the one rule any other run still marked running lost its worker."""
    running = db.session.scalars(
        db.select(SyncRun).where(
            SyncRun.user_id == user_id, SyncRun.status == RunStatus.RUNNING, SyncRun.id != current_id
        )
    ).all()
    for dead in running:
        if run_abandoned(dead, lock_holder=current_id):
            close_abandoned(dead)


def unpublish_all(user_id: int) -> ApplyResult:
    """Delete from VK every item and album EvoSync made for this merchant (account deletion).

    The same plan and apply as a sync, with nothing in scope and removal = delete; the mass-removal guard
    does not apply, since the merchant asked for exactly this. Items EvoSync did not create stay.
    """
    total = ApplyResult()
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    if conn is None or not conn.access_token or not conn.group_id:
        return total
    group_id = int(conn.group_id)
    client = vk_client_for(conn)
    photos = PhotoSource(current_app.config["VK_DEFAULT_PHOTO_PATH"], None, {})
    for _ in range(MAX_PASSES):
        if refresh_vk_catalog(user_id).status != "ok":
            break
        data, _urls = load_plan_input(user_id, group_id)
        data.scope = p.Scope(stores=frozenset(), groups=frozenset())
        data.settings = dataclasses.replace(data.settings, removal="delete")
        plan = build_plan(data)
        if not (plan.removals or plan.album_deletes):
            break
        result = Applier(user_id=user_id, group_id=group_id, client=client, photos=photos).apply(plan)
        total.merge(result)
    log.info("vk items removed for account deletion", extra={"user_id": user_id, "items_removed": total.removed})
    return total


class RunFailed(Exception):
    """The run cannot go on; the message is for the merchant."""


def _evotor_client(user_id: int) -> EvotorClient | None:
    """The merchant's Evotor client (image downloads and look-ups), or None when Evotor is not connected."""
    try:
        return evotor_client_for(get_evotor_connection(user_id))
    except NotConnectedError:
        return None


def _image_downloader(user_id: int):
    client = _evotor_client(user_id)
    return client.download if client is not None else None


def _unless_paused(user_id: int, client: EvotorClient | None) -> EvotorClient | None:
    """The client for image look-ups, unless Evotor asked us to pause (a 429) and the pause is not over."""
    conn = get_evotor_connection(user_id)
    if client is None or conn is None or (conn.paused_until and conn.paused_until > utcnow()):
        return None
    return client


def _images_after_pause(user_id: int, retry_after: float) -> None:
    """Evotor stopped this run's image look-ups for ``retry_after`` seconds: the items left went out with the
    default photo. Evotor's work for the merchant pauses that long, then one refresh checks every image due and
    a sync follows, which puts those photos right (not the hourly refreshes, 1,000 images at a time)."""
    until = pause_evotor(user_id, retry_after)
    delay = max(1.0, (until - utcnow()).total_seconds()) + 5
    enqueue_in(
        delay,
        CATALOG_JOB,
        user_id,
        sync_after=True,
        all_images=True,
        title=f"Evotor images after a pause, user {user_id}",
        timeout=REFRESH_TIMEOUT,
    )
    log.info("image look-ups resume after evotor's pause", extra={"user_id": user_id, "delay_seconds": round(delay)})


def _record_plan(run: SyncRun, plan: p.Plan) -> None:
    summary = plan.summary()
    run.progress_total = (
        len(plan.creates) * 3
        + len(plan.updates)
        + len(plan.removals)
        + len(plan.album_creates)
        + len(plan.album_renames)
        + len(plan.album_deletes)
        + len(plan.album_adds)
        + len(plan.album_removes)
        + len(plan.property_creates)
        + len(plan.variant_creates)
        + len(plan.groupings)
        + len(plan.ungroupings)
    )
    run.unchanged_count = plan.unchanged
    run.details = {
        **(run.details or {}),
        "plan": summary,
        "cards": [
            {"title": c.title, "variants": len(c.members), "options": list(c.options)}
            for c in plan.cards[:MAX_FAILURES_KEPT]
        ],
        "skipped": [
            {"key": p.key_text(s.key), "title": s.title, "reason": s.reason} for s in plan.skipped[:MAX_FAILURES_KEPT]
        ],
    }
    db.session.commit()


def _progress(run: SyncRun, done: int) -> None:
    run.progress_done = min(run.progress_done + done, max(run.progress_total, run.progress_done + done))
    db.session.commit()


def _counts(run: SyncRun, total: ApplyResult, requests: int) -> None:
    run.created_count, run.updated_count, run.removed_count = total.created, total.updated, total.removed
    run.failed_count, run.albums_changed, run.photos_uploaded = (
        len(total.failures),
        total.albums_changed,
        total.photos_uploaded,
    )
    run.api_calls, run.api_requests = total.calls, requests
    run.finished_at = utcnow()
    failures = [{"key": k, **v} for k, v in list(total.failures.items())[:MAX_FAILURES_KEPT]]
    run.details = {
        **(run.details or {}),
        "failures": failures,
        "duplicates_removed": total.duplicates_removed,
        "restored": total.restored,
        "cards_grouped": total.cards_grouped,
        "cards_ungrouped": total.cards_ungrouped,
        "properties_created": total.properties_created,
    }


def _photo_flow_details(photos: PhotoSource) -> dict:
    """For operators (the run's details): the photo flow the run ended on and, if VK refused bulk, why."""
    return {
        "flow": "bulk" if photos.bulk_files else "single",
        "bulk_refused": photos.fallback_reason,
        "upload_address_reused": photos.urls_reusable,
    }


UNCONFIRMED = p.N_(
    "VK did not confirm this change in time (an answer was lost or came late). The next sync checks it and finishes it."
)


def _unconfirmed(run: SyncRun, total: ApplyResult, plan: p.Plan, allow_removals: bool) -> None:
    """The last pass's re-read still wants writes: the run is not done, whatever the passes before said.

    A product VK answered with an error of its own is listed with that error already (VK refused it: another
    pass would not help). Each other product concerned is listed with why, the run ends partial, and
    ``details["unfinished"]`` (the writes left) asks the sync job for one follow-up run.
    """
    refused = set(total.failures)

    def unexplained(key: p.Key | None) -> bool:
        return key is None or p.key_text(key) not in refused

    removals = [r for r in plan.removals if allow_removals or r.duplicate]
    items = [(op.desired.key, op.desired.title) for op in (*plan.creates, *plan.updates)]
    items += [(r.key, r.title) for r in removals]
    items = [(key, title) for key, title in items if unexplained(key)]
    for key, title in items:
        if key is not None:
            total.failures.setdefault(p.key_text(key), {"title": title, "reason": UNCONFIRMED})
    memberships = [a for a in plan.memberships if unexplained(a.key)]
    left = len(items) + len(memberships) + sum(map(len, plan.structure_writes))
    total.failed = len(total.failures)
    if left:
        run.details = {**(run.details or {}), "unfinished": left}
        log.warning("sync run left writes unconfirmed", extra={"user_id": run.user_id, "run_id": run.id, "left": left})


def _finish(run: SyncRun, total: ApplyResult, requests: int, waiting: list[p.Remove]) -> None:
    _counts(run, total, requests)
    if waiting:
        run.status = RunStatus.WAITING_CONFIRMATION
        run.details = {
            **run.details,
            "pending_removals": [
                {
                    "key": p.key_text(r.key) if r.key else None,
                    "vk_item_id": r.vk_item_id,
                    "title": r.title,
                    "reason": r.reason,
                    "mode": r.mode,
                }
                for r in waiting[:MAX_REMOVALS_SHOWN]
            ],
            "pending_removals_total": len(waiting),
        }
        run.error = (
            f"{len(waiting)} items would be removed from VK at once. Nothing was removed: "
            "check the list and confirm if this is intended."
        )
    else:
        run.status = RunStatus.PARTIAL if total.failures else RunStatus.SUCCEEDED
    if not run.details.get("continues"):
        run.progress_done = max(run.progress_done, run.progress_total)
    db.session.commit()


def _fail(run: SyncRun, total: ApplyResult, message: str) -> None:
    _counts(run, total, run.api_requests or 0)
    run.status, run.error = RunStatus.FAILED, message
    db.session.commit()


def _stop(run: SyncRun, user_id: int, error: VkApiError, total: ApplyResult, requests: int) -> None:
    """Token, rights, market or pace trouble: only this merchant stops, with words they can act on."""
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    if isinstance(error, VkAuthError):
        message = "VK no longer accepts the token (it expired or was revoked). Reconnect VK on the Connections page."
    elif isinstance(error, VkFloodControl):
        message = "VK asked us to slow down (flood control). Syncing resumes automatically in 30 minutes."
        if conn is not None:
            conn.paused_until = utcnow() + FLOOD_PAUSE
    elif isinstance(error, VkMarketDisabled):
        message = "Products are switched off in your VK community. Turn on «Товары» in the community settings."
    elif error.code in (1405, 1406, 1407):
        message = (
            "VK's limit on items or albums in your community is reached. Remove some items in VK or "
            "publish fewer products, then sync again."
        )
    else:
        message = f"VK refused access (error {error.code}). Check that you administer the community."
    if conn is not None and not isinstance(error, VkFloodControl) and error.code not in (1405, 1406, 1407):
        record_failure(conn, error, commit=False)
    _counts(run, total, requests)
    run.status, run.error = RunStatus.FAILED, message
    db.session.commit()
