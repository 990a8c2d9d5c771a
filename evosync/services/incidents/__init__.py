"""Incidents: a merchant's sync stalled, keeps failing, or is about to stop; what they and the admins see of it.

    check_all()                 # the periodic check (checks.py): open / update / close, alert once each way
    banner_for(user_id)         # the dashboard's red banner: the open incident in the merchant's words, or None
    open_overview()             # the admin overview's lines: every open incident with its merchant

The rules live in rules.py (pure), the words in wording.py, the alerts in alerts.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import Incident, User
from . import wording
from .checks import CheckSummary, check_all, open_incident_for

__all__ = ["Banner", "CheckSummary", "banner_for", "check_all", "open_incident_for", "open_overview"]

OVERVIEW_LIMIT = 50


@dataclass(frozen=True)
class Banner:
    opened_at: dt.datetime
    lines: list[wording.Line]


def banner_for(user_id: int) -> Banner | None:
    """The merchant's own open incident, worded for the current request's language."""
    incident = open_incident_for(user_id)
    if incident is None:
        return None
    return Banner(opened_at=incident.opened_at, lines=wording.lines(incident.reasons, incident.details))


@dataclass(frozen=True)
class OverviewLine:
    incident_id: int
    user_id: int
    email: str
    reasons: list[str]
    opened_at: dt.datetime
    alerted: bool
    sms: bool


def open_overview(limit: int = OVERVIEW_LIMIT) -> tuple[list[OverviewLine], int]:
    """The open incidents, oldest first (at most ``limit``), and how many are open in all."""
    total = db.session.scalar(sa.select(sa.func.count(Incident.id)).where(Incident.open_user_id.is_not(None))) or 0
    rows = db.session.execute(
        sa.select(Incident, User.email)
        .join(User, User.id == Incident.user_id)
        .where(Incident.open_user_id.is_not(None))
        .order_by(Incident.opened_at, Incident.id)
        .limit(limit)
    ).all()
    lines = [
        OverviewLine(
            incident_id=incident.id,
            user_id=incident.user_id,
            email=email,
            reasons=list(incident.reasons or ()),
            opened_at=incident.opened_at,
            alerted=incident.alerted_at is not None,
            sms=incident.alert_sms,
        )
        for incident, email in rows
    ]
    return lines, total
