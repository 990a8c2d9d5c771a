"""Deleting a merchant's account: now, or (when their VK items must go first, at VK's pace) in a job."""

from __future__ import annotations

import logging

from ..extensions import db
from ..models import AuditLog, User, UserStatus
from ..queues import HIGH, enqueue
from .connection_problems import NotConnectedError
from .sync.apply_common import SyncStopped
from .sync.runner import unpublish_all

log = logging.getLogger(__name__)


def remove_vk_items_for(user: User) -> int:
    """Delete from VK the items and albums EvoSync created for this user; how many items went.

    Runs before the rows that remember those items (sync_links, sync_albums) are gone. VK trouble never
    blocks the deletion: what could not be removed is logged.
    """
    try:
        return unpublish_all(user.id).removed
    except (SyncStopped, NotConnectedError) as exc:
        log.warning(
            "VK items could not be removed before account deletion", extra={"user_id": user.id, "error": str(exc)}
        )
        return 0


def request_account_deletion(user: User, remove_vk_items: bool = False) -> None:
    """Delete now, or (when VK items must go first, which takes VK's pace) suspend now and delete in a job."""
    if not remove_vk_items:
        delete_account(user)
        return
    user.status = UserStatus.SUSPENDED  # no login, no scheduled work while the job removes the VK items
    db.session.commit()
    enqueue(
        "evosync.jobs.accounts.delete_account_job",
        user.id,
        True,
        queue=HIGH,
        title=f"delete account {user.id} with its VK items",
        timeout=4 * 3600,
        job_id=f"delete-account-{user.id}",
    )


def delete_account(user: User, remove_vk_items: bool = False) -> None:
    """Delete the user and everything they own (the foreign keys cascade); the audit log keeps a note."""
    removed = remove_vk_items_for(user) if remove_vk_items else 0
    db.session.add(
        AuditLog(
            actor_id=None,
            actor_email=user.email,
            action="account.delete",
            target_user_id=user.id,
            target_email=user.email,
            details={"remove_vk_items": remove_vk_items, "vk_items_removed": removed, "self_service": True},
        )
    )
    user_id = user.id
    db.session.delete(user)
    db.session.commit()
    log.info("account deleted", extra={"user_id": user_id, "remove_vk_items": remove_vk_items})
