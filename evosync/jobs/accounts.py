"""Account jobs: deleting an account whose VK items must be removed first (that takes VK's pace)."""

from __future__ import annotations

import logging

from ..extensions import db
from ..models import User
from ..services.account_deletion import delete_account

log = logging.getLogger(__name__)


def delete_account_job(user_id: int, remove_vk_items: bool = True) -> dict:
    user = db.session.get(User, user_id)
    if user is None:
        return {"user_id": user_id, "deleted": False}
    delete_account(user, remove_vk_items=remove_vk_items)
    return {"user_id": user_id, "deleted": True}
