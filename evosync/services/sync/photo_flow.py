"""Which photo flow a merchant's sync uses: bulk (several photos per upload and save) unless VK refused it lately.

A refusal of any bulk step (apply_photos.py) is remembered in Redis for ``VK_PHOTO_BULK_RETRY_HOURS``, so the
following runs do not pay for the refusal again; after that the bulk flow is tried anew (VK may have enabled it).
``VK_PHOTO_BULK_FILES`` below 2 turns the bulk flow off for everyone.
"""

from __future__ import annotations

import logging

import redis
from flask import current_app

from ...redis_conn import get_redis

log = logging.getLogger(__name__)

KEY = "evosync:vk:photo-single-flow:{user_id}"


def bulk_files_for(user_id: int) -> int:
    """Photos per bulk upload for this merchant's next run (PhotoSource takes below 2 as the single flow); 0 while
    VK's refusal is remembered."""
    files = current_app.config["VK_PHOTO_BULK_FILES"]
    try:
        if get_redis().exists(KEY.format(user_id=user_id)):
            return 0
    except redis.RedisError as exc:  # without Redis the run cannot know: the single flow, which VK always takes
        log.warning("photo flow unknown (redis)", extra={"user_id": user_id, "error": type(exc).__name__})
        return 0
    return files


def remember_single_flow(user_id: int, reason: str) -> None:
    """VK refused the bulk flow for this merchant: the single flow for the next VK_PHOTO_BULK_RETRY_HOURS."""
    hours = current_app.config["VK_PHOTO_BULK_RETRY_HOURS"]
    try:
        get_redis().set(KEY.format(user_id=user_id), reason[:500], ex=max(60, int(hours * 3600)))
    except redis.RedisError as exc:
        log.warning("photo flow not remembered (redis)", extra={"user_id": user_id, "error": type(exc).__name__})


def single_flow_reason(user_id: int) -> str | None:
    """Why this merchant is on the single flow now (VK's refusal), or None."""
    try:
        value = get_redis().get(KEY.format(user_id=user_id))
    except redis.RedisError:
        return None
    return value.decode() if isinstance(value, bytes) else value
