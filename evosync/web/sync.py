"""The sync pages: dashboard, dry-run preview, one run, settings, "Sync now", and the JSON status API."""

from __future__ import annotations

import datetime as dt
import logging

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from redis.exceptions import RedisError
from rq_scheduler import Scheduler

from .. import openapi
from ..auth import permission_required
from ..extensions import db
from ..models import ConnectionState, LinkStatus, RunStatus, SyncLink, SyncRun, VkConnection
from ..redis_conn import get_redis
from ..services import incidents
from ..services.connection_problems import NotConnectedError
from ..services.connections import get_evotor_connection, get_vk_connection
from ..services.evotor_catalog.scope import store_enabled_map
from ..services.onboarding import onboarding_for
from ..services.sync import settings as sync_settings
from ..services.sync.describe import plan_entries
from ..services.sync.history import get_run, latest_runs
from ..services.sync.runner import preview as build_preview
from ..services.sync.starts import active_run, request_sync
from ..services.sync.variants_mode import variants_notice
from ..services.vk_catalog.pages import rejected_items, vk_item_url
from .common import wants_json
from .sync_forms import VK_OWNED_LABELS, ActionForm, SettingsForm
from .sync_status import STATUS_LABELS, last_finished_run, run_json, runs_chart

bp = Blueprint("sync", __name__)
log = logging.getLogger(__name__)

RUNS_SHOWN = 20
PREVIEW_LINES_PER_KIND = 200  # the preview lists this many lines of each kind, then says how many more
PENDING_REMOVALS_SHOWN = 500
# The periodic job of jobs/schedule.py that refreshes every catalog and then asks for each merchant's sync.
SCHEDULED_REFRESH_JOB_ID = "periodic-refresh_catalog"

ACTION_WORDS = {
    "create": _l("Will be published"),
    "update": _l("Will be changed"),
    "remove": _l("Will be deleted from VK"),
    "hide": _l("Will be marked «not available»"),
    "skip": _l("Will not be published"),
    "album": _l("Albums"),
}


# ----------------------------------------------------------------------------------------------- helpers


def _own_run_or_404(run_id: int) -> SyncRun:
    run = get_run(current_user.id, run_id)
    if run is None or run.dry_run:
        abort(404)
    return run


def _vk_ready(conn: VkConnection | None) -> bool:
    return bool(conn and conn.access_token and conn.group_id and conn.state != ConnectionState.NOT_CONNECTED)


def _onboarding(user_id: int) -> list[dict[str, str]]:
    """What still stands between the merchant and a sync, each with where to fix it."""
    connections, stores = url_for("connections.index"), url_for("catalog.stores")
    hints = []
    evotor = get_evotor_connection(user_id)
    if evotor is None or not evotor.access_token or evotor.state == ConnectionState.NOT_CONNECTED:
        hints.append({"text": _("Connect your Evotor account so we can read your products."), "url": connections})
    elif evotor.state == ConnectionState.BROKEN:
        hints.append({"text": _("The Evotor connection needs your attention."), "url": connections})
    vk = get_vk_connection(user_id)
    if not _vk_ready(vk):
        hints.append({"text": _("Connect your VK community so we can publish to its market."), "url": connections})
    elif vk.state == ConnectionState.BROKEN:
        hints.append({"text": _("The VK connection needs your attention."), "url": connections})
    if not any(store_enabled_map(user_id).values()):
        hints.append({"text": _("Choose at least one store to publish in your Evotor catalog."), "url": stores})
    return hints


def _link_counts(user_id: int) -> dict[str, int]:
    rows = db.session.execute(
        db.select(SyncLink.status, db.func.count()).where(SyncLink.user_id == user_id).group_by(SyncLink.status)
    )
    return {status: count for status, count in rows}


def _next_scheduled(auto_sync: bool) -> dt.datetime | None:
    """When the periodic catalog refresh (which asks for each merchant's sync) is next due, if rq-scheduler says."""
    if not auto_sync:
        return None
    try:
        score = get_redis().zscore(Scheduler.scheduled_jobs_key, SCHEDULED_REFRESH_JOB_ID)
    except RedisError:
        return None
    return dt.datetime.fromtimestamp(float(score), dt.UTC).replace(tzinfo=None) if score else None


def _sync_answer(run: SyncRun, created: bool):
    """JSON for fetch() clients, a flash and a redirect for a plain form post."""
    if wants_json():
        return jsonify({"run_id": run.id, "status": run.status, "created": created}), 202 if created else 200
    if created:
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            flash(_("Sync started. You can follow it below; it goes on if you leave the page."), "success")
        else:
            flash(_("Sync finished: %(status)s.", status=STATUS_LABELS.get(run.status, (run.status,))[0]), "info")
    else:
        flash(_("A sync is already running; your request joins it."), "info")
    return redirect(url_for("sync.dashboard"))


# ----------------------------------------------------------------------------------------------- pages


@bp.get("/sync")
@permission_required("catalog.view")
def dashboard():
    user_id = current_user.id
    runs = latest_runs(user_id, limit=RUNS_SHOWN)
    running = active_run(user_id)
    vk = get_vk_connection(user_id)
    config = sync_settings.load_settings(user_id)
    counts = _link_counts(user_id)
    last = next((r for r in runs if r.status not in (RunStatus.QUEUED, RunStatus.RUNNING)), None)
    return render_template(
        "sync/dashboard.html",
        runs=runs,
        running=running,
        last=last,
        onboarding=onboarding_for(user_id) if current_user.has_permission("sync.run") else None,
        counts=counts,
        published=counts.get(LinkStatus.PUBLISHED, 0) + counts.get(LinkStatus.UNAVAILABLE, 0),
        errors=counts.get(LinkStatus.ERROR, 0),
        vk=vk,
        vk_url=f"https://vk.com/market-{vk.group_id}" if vk and vk.group_id else None,
        auto_sync=config.auto_sync,
        next_run=_next_scheduled(config.auto_sync),
        chart=runs_chart(list(reversed(runs))),
        labels=STATUS_LABELS,
        form=ActionForm(),
        can_run=current_user.has_permission("sync.run"),
        attention=rejected_items(user_id),
        vk_item_url=vk_item_url,
        incident=incidents.banner_for(user_id),
        variants_off=variants_notice(user_id),
    )


@bp.get("/sync/preview")
@permission_required("catalog.view")
def preview():
    try:
        result = build_preview(current_user.id)
    except NotConnectedError as exc:
        return render_template("sync/preview.html", problem=_(str(exc)), hints=_onboarding(current_user.id))
    plan = result.plan
    entries = plan_entries(plan, limit=PREVIEW_LINES_PER_KIND)
    groups: dict[str, list] = {kind: [] for kind in ACTION_WORDS}
    for line in entries:
        groups.setdefault(line.action, []).append(line)
    totals = {
        "create": len(plan.creates),
        "update": len(plan.updates),
        "remove": sum(1 for r in plan.removals if r.mode != "hide"),
        "hide": sum(1 for r in plan.removals if r.mode == "hide"),
        "skip": len(plan.skipped) + len(plan.rejected),
        "album": len(plan.album_creates) + len(plan.album_renames) + len(plan.album_deletes),
    }
    return render_template(
        "sync/preview.html",
        problem=None,
        hints=_onboarding(current_user.id),
        summary=plan.summary(),
        groups=groups,
        totals=totals,
        action_words=ACTION_WORDS,
        guarded=result.guarded,
        nothing_to_do=not plan.has_writes,
        left_to_vk=[label for name, label in VK_OWNED_LABELS.items() if name in result.settings.vk_owned],
        cards=[{"title": c.title, "variants": len(c.members), "options": list(c.options)} for c in plan.cards],
        form=ActionForm(),
        can_run=current_user.has_permission("sync.run"),
        reserved=plan.reserved[:PREVIEW_LINES_PER_KIND],  # units open VK orders hold (issue 23)
        reserved_total=len(plan.reserved),
    )


@bp.get("/sync/runs/<int:run_id>")
@permission_required("catalog.view")
def run_detail(run_id: int):
    run = _own_run_or_404(run_id)
    details = run.details or {}
    newer = db.session.scalar(
        db.select(SyncRun.id).filter(SyncRun.user_id == run.user_id, SyncRun.id > run.id, SyncRun.dry_run.is_(False))
    )
    return render_template(
        "sync/run.html",
        run=run,
        labels=STATUS_LABELS,
        failures=details.get("failures") or [],
        skipped=details.get("skipped") or [],
        pending=(details.get("pending_removals") or [])[:PENDING_REMOVALS_SHOWN],
        pending_total=details.get("pending_removals_total") or len(details.get("pending_removals") or []),
        confirmed_in=details.get("confirmed_in_run"),
        can_confirm=run.status == RunStatus.WAITING_CONFIRMATION and newer is None,
        can_run=current_user.has_permission("sync.run"),
        running=run.status in (RunStatus.QUEUED, RunStatus.RUNNING),
        form=ActionForm(),
    )


@bp.post("/sync/run")
@permission_required("sync.run")
def run_now():
    run, created = request_sync(current_user.id, "manual")
    return _sync_answer(run, created)


@bp.post("/sync/runs/<int:run_id>/retry")
@permission_required("sync.run")
def retry(run_id: int):
    _own_run_or_404(run_id)
    run, created = request_sync(current_user.id, trigger="retry")
    return _sync_answer(run, created)


@bp.post("/sync/runs/<int:run_id>/confirm")
@permission_required("sync.run")
def confirm(run_id: int):
    run = _own_run_or_404(run_id)
    newer = db.session.scalar(
        db.select(SyncRun.id).filter(SyncRun.user_id == run.user_id, SyncRun.id > run.id, SyncRun.dry_run.is_(False))
    )
    if run.status != RunStatus.WAITING_CONFIRMATION or newer is not None:
        # The list the merchant saw is no longer the one a run would act on: make them look again.
        flash(_("This run no longer waits for confirmation. Check the latest run before removing anything."), "warning")
        return redirect(url_for("sync.run_detail", run_id=run.id))
    new_run, _created = request_sync(current_user.id, confirm_removals=True)
    run.details = {**(run.details or {}), "confirmed_in_run": new_run.id}
    db.session.commit()
    log.info("removals confirmed", extra={"user_id": current_user.id, "run_id": run.id, "new_run_id": new_run.id})
    if wants_json():
        return jsonify({"run_id": new_run.id, "status": new_run.status, "created": True}), 202
    flash(_("Removals confirmed: the sync removes those items now."), "success")
    return redirect(url_for("sync.run_detail", run_id=new_run.id))


@bp.route("/sync/settings", methods=["GET", "POST"])
@permission_required("sync.settings")
def settings():
    user_id = current_user.id
    saved = sync_settings.load_settings(user_id)
    categories, from_vk = sync_settings.categories(user_id)
    if request.method == "POST":
        form = SettingsForm()
    else:
        form = SettingsForm(
            formdata=None,
            data={
                "markup_percent": saved.markup_percent,
                "price_rounding": saved.price_rounding,
                "out_of_stock": saved.out_of_stock,
                "removal": saved.removal,
                "category_id": saved.category_id,
                "description_template": saved.description_template,
                "albums_enabled": saved.albums_enabled,
                "publish_services": saved.publish_services,
                "auto_sync": saved.auto_sync,
                "publish_alcohol": saved.publish_alcohol,
                "publish_tobacco": saved.publish_tobacco,
                "vk_owned": sorted(saved.vk_owned),
                "group_by_name": saved.group_by_name,
            },
        )
    form.set_categories(categories, saved.category_id)
    if form.validate_on_submit():
        try:
            sync_settings.save_settings(user_id, form.values(), category_ids=form.category_ids)
        except sync_settings.InvalidSettings as exc:  # the form and the service disagree: show the service's words
            for name, message in exc.errors.items():
                getattr(form, name).errors = [*getattr(form, name).errors, _(message)]
        else:
            flash(_("Settings saved. They apply from the next sync."), "success")
            return redirect(url_for("sync.settings"))
    status = 400 if request.method == "POST" else 200
    return (
        render_template(
            "sync/settings.html",
            form=form,
            categories_from_vk=from_vk,
            placeholders=sync_settings.PLACEHOLDERS,
        ),
        status,
    )


# ----------------------------------------------------------------------------------------------- JSON


@bp.get("/api/sync/status")
def status_api():
    # Checked here rather than by permission_required: a program gets a JSON 401, not the login page.
    if not current_user.is_authenticated:
        return jsonify({"errors": [{"code": 401, "reason": "Log in first."}]}), 401
    if not current_user.has_permission("catalog.view"):
        return jsonify({"errors": [{"code": 403, "reason": "Not allowed."}]}), 403
    running = active_run(current_user.id)
    last = last_finished_run(current_user.id)
    return jsonify({"run": run_json(running) if running else None, "last_finished": run_json(last) if last else None})


# ----------------------------------------------------------------------------------------------- OpenAPI

openapi.register_tag("Sync", "A logged-in merchant's sync runs")
_RUN_SCHEMA = {
    "type": "object",
    "required": ["id", "status", "progress_done", "progress_total", "created", "updated", "removed", "failed"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": [s.value for s in RunStatus]},
        "status_text": {"type": "string", "description": "The status in the merchant's words"},
        "trigger": {"type": "string", "enum": ["manual", "schedule", "webhook", "cli", "retry", "confirm"]},
        "progress_done": {"type": "integer", "minimum": 0},
        "progress_total": {"type": "integer", "minimum": 0, "description": "0 while the plan is being made"},
        "created": {"type": "integer", "minimum": 0, "description": "Items published for the first time"},
        "updated": {"type": "integer", "minimum": 0, "description": "Items changed"},
        "removed": {"type": "integer", "minimum": 0, "description": "Items deleted or hidden"},
        "failed": {"type": "integer", "minimum": 0, "description": "Products that could not be published"},
        "started_at": {"type": "string", "format": "date-time", "nullable": True},
        "finished_at": {"type": "string", "format": "date-time", "nullable": True},
        "error": {"type": "string", "nullable": True, "description": "Why the run stopped or waits, in plain words"},
        "url": {"type": "string", "description": "The run's page"},
    },
}
openapi.register_schema("SyncRun", _RUN_SCHEMA)
openapi.register_schema(
    "SyncStatus",
    {
        "type": "object",
        "required": ["run", "last_finished"],
        "properties": {
            "run": {
                "allOf": [{"$ref": "#/components/schemas/SyncRun"}],
                "nullable": True,
                "description": "The queued or running sync, or null",
            },
            "last_finished": {
                "allOf": [{"$ref": "#/components/schemas/SyncRun"}],
                "nullable": True,
                "description": "The most recent run that ended (any outcome), or null",
            },
        },
    },
)
openapi.register_path(
    "/api/sync/status",
    "get",
    {
        "tags": ["Sync"],
        "summary": "The merchant's running sync and the last finished one",
        "description": "Polled by the dashboard every ~2 seconds for the progress bar. Only the logged-in "
        "merchant's own runs are ever shown.",
        "security": [{"session": []}],
        "responses": {
            "200": {
                "description": "Status",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SyncStatus"}}},
            },
            "401": {"description": "Not logged in"},
            "403": {"description": "The user may not see the catalog"},
        },
    },
)
openapi.register_path(
    "/sync/run",
    "post",
    {
        "tags": ["Sync"],
        "summary": "Start a sync now (joins one already queued or running)",
        "description": "Send `Accept: application/json` and `X-CSRFToken` for JSON; a plain form post gets a "
        "redirect to /sync with the result as a message.",
        "security": [{"session": []}],
        "responses": {
            "202": {
                "description": "A new run was queued",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["run_id", "status", "created"],
                            "properties": {
                                "run_id": {"type": "integer"},
                                "status": {"type": "string"},
                                "created": {"type": "boolean", "description": "False: the request joined a run"},
                            },
                        }
                    }
                },
            },
            "200": {"description": "The request joined the run already queued or running (same body, created=false)"},
            "302": {"description": "Plain form post: back to /sync"},
            "400": {"description": "Missing or wrong CSRF token"},
            "403": {"description": "The user may not start syncs"},
        },
    },
)
