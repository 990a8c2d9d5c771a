"""Incident fixtures: the sandbox shop of the sync tests, the SMS outbox, and a clock the check is given."""

from __future__ import annotations

import datetime as dt

import pytest

from evosync.extensions import db
from evosync.services.notifications import sms_outbox
from tests.factories import emails_to
from tests.sync_engine.conftest import fast_vk, open_shop, sync_app  # noqa: F401  (fixtures reused as they are)

INTERVAL = dt.timedelta(hours=1)  # CATALOG_REFRESH_INTERVAL_SECONDS in these tests


@pytest.fixture
def alerts_app(fast_vk):  # noqa: F811
    """The sandbox app with SMS kept in an outbox and a known refresh interval and address."""
    fast_vk.config.update(
        SMS_PROVIDER="locmem",
        CATALOG_REFRESH_INTERVAL_SECONDS=int(INTERVAL.total_seconds()),
        INCIDENT_FAILED_RUNS=3,
        INCIDENT_VK_TOKEN_WARNING_HOURS=72,
        BASE_URL="https://evosync.example",
    )
    return fast_vk


def opt_in(user, phone: str = "+7 912 000-00-01") -> None:
    user.phone, user.sms_alerts = phone, True
    db.session.commit()


def sms_to(phone: str) -> list[str]:
    return [text for to, text in sms_outbox() if to == phone]


def subjects(app, email: str) -> list[str]:
    return [m.subject for m in emails_to(app, email)]


def let_time_pass(user_id: int, delta: dt.timedelta) -> None:
    """As if ``delta`` went by since the merchant's runs: their times move back (the check reads the real clock)."""
    from evosync.models import SyncRun

    for run in db.session.scalars(db.select(SyncRun).where(SyncRun.user_id == user_id)):
        run.created_at -= delta
        run.started_at = run.started_at and run.started_at - delta
        run.finished_at = run.finished_at and run.finished_at - delta
    db.session.commit()


def stalled_merchant(hours: float = 4, **user_fields):
    """A merchant connected to both sides whose last successful sync was ``hours`` ago (no sandbox needed:
    the check reads only the database)."""
    from evosync.models import ConnectionState, EvotorConnection, RunStatus, SyncRun, VkConnection, utcnow
    from tests.factories import make_user

    user = make_user(**user_fields)
    synced = utcnow() - dt.timedelta(hours=hours)
    db.session.add_all(
        [
            EvotorConnection(
                user_id=user.id, access_token=f"evotor-{user.id}", state=ConnectionState.CONNECTED, last_ok_at=utcnow()
            ),
            VkConnection(
                user_id=user.id,
                access_token=f"vk-{user.id}",
                group_id=9000 + user.id,
                group_name="Лавка",
                state=ConnectionState.CONNECTED,
            ),
            SyncRun(
                user_id=user.id, status=RunStatus.SUCCEEDED, trigger="schedule", created_at=synced, finished_at=synced
            ),
        ]
    )
    db.session.commit()
    return user
