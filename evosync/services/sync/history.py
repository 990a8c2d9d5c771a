"""A merchant's past sync runs, for the sync pages: the latest ones, and one by id (only their own)."""

from __future__ import annotations

from ...extensions import db
from ...models import SyncRun


def latest_runs(user_id: int, limit: int = 20) -> list[SyncRun]:
    return list(
        db.session.scalars(
            db.select(SyncRun).filter_by(user_id=user_id, dry_run=False).order_by(SyncRun.id.desc()).limit(limit)
        )
    )


def get_run(user_id: int, run_id: int) -> SyncRun | None:
    """One of the merchant's own runs; another merchant's id is None (the view answers 404)."""
    return db.session.scalar(db.select(SyncRun).filter_by(id=run_id, user_id=user_id))
