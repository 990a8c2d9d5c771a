"""How a sync run is shown: status words, the JSON shape, and the small inline-SVG chart of recent runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import RunStatus, SyncRun

# status -> (words, Bootstrap colour)
STATUS_LABELS: dict[str, tuple[Any, str]] = {
    RunStatus.QUEUED: (_l("Waiting to start"), "secondary"),
    RunStatus.RUNNING: (_l("Running"), "primary"),
    RunStatus.SUCCEEDED: (_l("Done"), "success"),
    RunStatus.PARTIAL: (_l("Done, some products failed"), "warning"),
    RunStatus.FAILED: (_l("Stopped with a problem"), "danger"),
    RunStatus.WAITING_CONFIRMATION: (_l("Waiting for your confirmation"), "info"),
    RunStatus.CANCELLED: (_l("Not needed (another sync covered it)"), "secondary"),
}
FINISHED = tuple(s for s in RunStatus if s not in (RunStatus.QUEUED, RunStatus.RUNNING))


def status_text(status: str) -> str:
    return str(STATUS_LABELS.get(status, (status, ""))[0])


def _iso(moment) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def run_json(run: SyncRun) -> dict[str, Any]:
    """The public JSON of a run (the SyncRun schema of /openapi.json); times are UTC."""
    return {
        "id": run.id,
        "status": str(run.status),
        "status_text": status_text(run.status),
        "trigger": run.trigger,
        "progress_done": run.progress_done or 0,
        "progress_total": run.progress_total or 0,
        "created": run.created_count or 0,
        "updated": run.updated_count or 0,
        "removed": run.removed_count or 0,
        "failed": run.failed_count or 0,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "error": run.error,
        "url": url_for("sync.run_detail", run_id=run.id),
    }


def last_finished_run(user_id: int) -> SyncRun | None:
    return db.session.scalar(
        db.select(SyncRun)
        .where(SyncRun.user_id == user_id, SyncRun.dry_run.is_(False), SyncRun.status.in_(FINISHED))
        .order_by(SyncRun.id.desc())
        .limit(1)
    )


# ----------------------------------------------------------------------------------------------- chart

CHART_HEIGHT = 120
BAR_WIDTH = 8
BAR_GAP = 2
RUN_GAP = 8
MIN_SLOTS = 12
SERIES = (
    ("published", _l("Published"), "#198754"),
    ("changed", _l("Changed or removed"), "#0d6efd"),
    ("failed", _l("Failed"), "#dc3545"),
)


@dataclass
class Bar:
    x: int
    y: int
    width: int
    height: int
    colour: str
    title: str


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    top: int  # the value at the top of the chart
    legend: list[tuple[str, str]]


def runs_chart(runs: list[SyncRun]) -> Chart | None:
    """Grouped bars per run (oldest left): published, changed/removed, failed. None with no run to draw."""
    if not runs:
        return None
    values = [
        (
            run,
            {
                "published": run.created_count or 0,
                "changed": (run.updated_count or 0) + (run.removed_count or 0),
                "failed": run.failed_count or 0,
            },
        )
        for run in runs
    ]
    top = max([1, *(v for _, counts in values for v in counts.values())])
    group_width = len(SERIES) * (BAR_WIDTH + BAR_GAP) + RUN_GAP
    bars: list[Bar] = []
    for index, (run, counts) in enumerate(values):
        for n, (key, label, colour) in enumerate(SERIES):
            value = counts[key]
            height = round(value / top * (CHART_HEIGHT - 10)) if value else 0
            if value and height < 2:
                height = 2  # a handful among thousands still shows
            bars.append(
                Bar(
                    x=index * group_width + n * (BAR_WIDTH + BAR_GAP),
                    y=CHART_HEIGHT - height,
                    width=BAR_WIDTH,
                    height=height,
                    colour=colour,
                    title=f"#{run.id}: {label} {value}",
                )
            )
    return Chart(
        width=max(len(values), MIN_SLOTS) * group_width,  # a few runs still draw at a readable size
        height=CHART_HEIGHT,
        bars=bars,
        top=top,
        legend=[(str(label), colour) for _, label, colour in SERIES],
    )
