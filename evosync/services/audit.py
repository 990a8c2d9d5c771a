"""The audit log: who did what to whom (admin actions, a merchant's settings changes)."""

from __future__ import annotations

from ..extensions import db
from ..models import AuditLog, User


def record(actor: User | None, action: str, target: User | None = None, details: dict | None = None) -> AuditLog:
    """Add an audit row to the session; the caller's commit saves it with the change it describes."""
    row = AuditLog(
        actor_id=actor.id if actor else None,
        actor_email=actor.email if actor else "",
        action=action,
        target_user_id=target.id if target else None,
        target_email=target.email if target else "",
        details=details or None,
    )
    db.session.add(row)
    return row
