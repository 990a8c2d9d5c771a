"""The incident check: open, update and close each merchant's incident, and send each alert exactly once.

    summary = check_all()           # the periodic job (jobs/incidents.py); every merchant, a chunk at a time

For each merchant the rules (rules.py) say which problems hold now:

* problems and no open incident: one is opened (the unique ``open_user_id`` lets only one check open it);
* problems and an open incident: its reasons and details follow what holds now, and nobody is alerted again;
* no problem and an open incident: it is closed. "Resolved" when every rule it was opened for was checked
  and found fine (the merchant hears "back to normal"); "withdrawn", quietly, when those rules stopped
  applying (account suspended, a connection removed, automatic sync switched off).

Alerts are claimed before they are queued (``alerted_at`` set by a conditional UPDATE), so two checks never
send one twice; an alert that could not be queued (Redis down) is released and tried at the next check.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ... import locks
from ...extensions import db
from ...models import Incident, IncidentClose, User, utcnow
from . import alerts, facts, rules

log = logging.getLogger(__name__)

CHUNK = 500  # merchants read per round of queries
LOCK = "incidents"  # locks kind, one for all merchants (owner 0)
RECOVERY_RETRY_WINDOW = dt.timedelta(days=1)  # a "back to normal" not queued within a day is dropped


@dataclass
class CheckSummary:
    checked: int = 0
    opened: list[int] = field(default_factory=list)  # user ids
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    alerts: int = 0
    recoveries: int = 0
    sms: int = 0
    errors: list[int] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
            "withdrawn": self.withdrawn,
            "alerts": self.alerts,
            "recoveries": self.recoveries,
            "sms": self.sms,
            "errors": self.errors,
            "skipped": self.skipped,
        }


def limits_from_config(config=None) -> rules.Limits:
    config = config or current_app.config
    return rules.Limits(
        interval=dt.timedelta(seconds=int(config.get("CATALOG_REFRESH_INTERVAL_SECONDS") or 3600)),
        failed_runs=int(config.get("INCIDENT_FAILED_RUNS") or 3),
        token_warning=dt.timedelta(hours=int(config.get("INCIDENT_VK_TOKEN_WARNING_HOURS") or 72)),
    )


def check_all(now: dt.datetime | None = None) -> CheckSummary:
    """Check every merchant once (one check at a time across workers: a second one is skipped)."""
    with locks.merchant_lock(LOCK, 0, ttl=1800) as held:
        if not held:
            return CheckSummary(skipped="another incident check is running")
        summary = _check(now or utcnow())
    log.info("incident check done", extra=summary.as_dict())
    return summary


def _check(now: dt.datetime) -> CheckSummary:
    summary = CheckSummary()
    limits = limits_from_config()
    open_reasons = {
        user_id: list(reasons or ())
        for user_id, reasons in db.session.execute(sa.select(Incident.user_id, Incident.reasons).where(_is_open()))
    }
    user_ids = facts.candidate_user_ids()
    db.session.rollback()  # end the read transaction; each merchant commits on their own
    for start in range(0, len(user_ids), CHUNK):
        chunk = user_ids[start : start + CHUNK]
        known = {uid: open_reasons[uid] for uid in chunk if uid in open_reasons}
        for merchant in facts.load(chunk, now, limits, known):
            summary.checked += 1
            user_id = merchant.facts.user_id
            try:
                _check_merchant(merchant, user_id in open_reasons, now, limits, summary)
            except Exception:  # one merchant's trouble (a bug, a database hiccup) must not stop the others
                db.session.rollback()
                log.exception("incident check failed for a merchant", extra={"user_id": user_id})
                summary.errors.append(user_id)
    _retry_recoveries(now, summary)
    return summary


def _is_open():
    return Incident.open_user_id.is_not(None)


def open_incident_for(user_id: int) -> Incident | None:
    return db.session.scalar(sa.select(Incident).where(Incident.open_user_id == user_id))


def _check_merchant(
    merchant: facts.Merchant, has_open: bool, now: dt.datetime, limits: rules.Limits, summary: CheckSummary
) -> None:
    user_id = merchant.facts.user_id
    assessment = rules.assess(merchant.facts, now, limits)
    details = {reason: assessment.problems[reason] for reason in assessment.reasons}
    incident = open_incident_for(user_id) if has_open else None
    if assessment.problems and incident is None:
        incident = _open(user_id, assessment.reasons, details, now)
        if incident is None:
            return  # another check opened it a moment ago; it alerts
        summary.opened.append(user_id)
    elif assessment.problems:
        if incident.reasons != assessment.reasons or incident.details != details:
            incident.reasons, incident.details = assessment.reasons, details
            db.session.commit()
            summary.updated.append(user_id)
    elif incident is not None:
        resolved = set(incident.reasons) <= assessment.checked
        _close(incident, IncidentClose.RESOLVED if resolved else IncidentClose.WITHDRAWN, now)
        (summary.resolved if resolved else summary.withdrawn).append(user_id)
    else:
        return
    _deliver(incident, merchant.shop, now, summary)


def _open(user_id: int, reasons: list[str], details: dict, now: dt.datetime) -> Incident | None:
    incident = Incident(user_id=user_id, open_user_id=user_id, reasons=reasons, details=details, opened_at=now)
    db.session.add(incident)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        log.info("incident already opened by another check", extra={"user_id": user_id})
        return None
    log.warning("incident opened", extra={"user_id": user_id, "incident_id": incident.id, "reasons": reasons})
    return incident


def _close(incident: Incident, how: IncidentClose, now: dt.datetime) -> None:
    incident.open_user_id = None
    incident.closed_at = now
    incident.close_reason = how
    db.session.commit()
    log.info(
        "incident closed",
        extra={"user_id": incident.user_id, "incident_id": incident.id, "close_reason": str(how)},
    )


# ------------------------------------------------------------------------------------------------ alerts


def _deliver(incident: Incident, shop: str, now: dt.datetime, summary: CheckSummary) -> None:
    """Send whichever alert this incident still owes: the opening one, or "back to normal"."""
    user = db.session.get(User, incident.user_id)
    if user is None:
        return
    if incident.is_open and incident.alerted_at is None:
        sent = _claimed_send(incident, "alerted_at", "alert_sms", now, lambda: alerts.send_opened(incident, user, shop))
        if sent is not None:
            summary.alerts += 1
            summary.sms += int(sent)
    elif _owes_recovery(incident):
        sent = _claimed_send(
            incident, "recovery_alerted_at", "recovery_sms", now, lambda: alerts.send_cleared(incident, user)
        )
        if sent is not None:
            summary.recoveries += 1
            summary.sms += int(sent)


def _owes_recovery(incident: Incident) -> bool:
    return (
        incident.close_reason == IncidentClose.RESOLVED
        and incident.alerted_at is not None
        and incident.recovery_alerted_at is None
    )


def _claimed_send(incident: Incident, stamp: str, sms_flag: str, now: dt.datetime, send) -> bool | None:
    """Claim the alert (set ``stamp`` where still NULL), queue it, record whether an SMS went.

    Returns None when another check holds the claim or the alert could not be queued (claim released).
    """
    column = getattr(Incident, stamp)
    claimed = db.session.execute(
        sa.update(Incident).where(Incident.id == incident.id, column.is_(None)).values({stamp: now}),
        execution_options={"synchronize_session": False},
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return None
    try:
        sms = send()
    except Exception as exc:  # the queue (Redis) or a template: try again at the next check
        db.session.rollback()
        db.session.execute(
            sa.update(Incident).where(Incident.id == incident.id).values({stamp: None}),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        log.warning(
            "incident alert not queued; retried at the next check",
            extra={"user_id": incident.user_id, "incident_id": incident.id, "error": type(exc).__name__},
        )
        return None
    setattr(incident, sms_flag, sms)
    db.session.commit()
    return sms


def _retry_recoveries(now: dt.datetime, summary: CheckSummary) -> None:
    """ "Back to normal" alerts an earlier check could not queue (incidents closed within the last day)."""
    owed = db.session.scalars(
        sa.select(Incident).where(
            Incident.close_reason == str(IncidentClose.RESOLVED),
            Incident.alerted_at.is_not(None),
            Incident.recovery_alerted_at.is_(None),
            Incident.closed_at >= now - RECOVERY_RETRY_WINDOW,
        )
    ).all()
    for incident in owed:
        try:
            _deliver(incident, "", now, summary)
        except Exception:
            db.session.rollback()
            log.exception("incident recovery alert failed", extra={"user_id": incident.user_id})
