"""The community's "extended" products mode (needed for VK variants): the probe, and the dashboard's notice."""

from __future__ import annotations

import logging

from ...clients.errors import VkApiError
from ...clients.vk import VkClient
from ...extensions import db
from ...models import CachedGroup, VkConnection, utcnow

log = logging.getLogger(__name__)

VARIANTS_OFF = (1409, 1410)


def modification_attribute(user_id: int) -> str | None:
    """The name of an attribute of one of the merchant's Evotor modification groups (None: they have none)."""
    for attributes in db.session.scalars(
        db.select(CachedGroup.attributes).where(CachedGroup.user_id == user_id, CachedGroup.attributes.is_not(None))
    ):
        for attribute in attributes or ():
            if isinstance(attribute, dict) and str(attribute.get("name") or "").strip():
                return str(attribute["name"]).strip()[:60]
    return None


def probe_variants_mode(user_id: int, conn: VkConnection, client: VkClient) -> int:
    """After VK refused a variant write (mode "off-write"), try the one write a card needs first once per run.

    VK may answer market.getProperties even while the mode is off (a reading, docs/VK_READINGS.md), so only a
    write can tell that the merchant switched the mode on: ``market.addProperty`` of an attribute the catalog
    uses. Accepted: the mode is on and the property is adopted by title on the read that follows. Returns the
    number of VK requests made (0 or 1).
    """
    if conn.variants_mode != "off-write":
        return 0
    title = modification_attribute(user_id)
    if title is None:
        return 0
    try:
        client.call("market.addProperty", group_id=abs(int(conn.group_id)), title=title)
    except VkApiError as exc:
        if exc.code not in VARIANTS_OFF:
            log.info("variants probe failed", extra={"user_id": user_id, "vk_error": exc.code})
        return 1
    conn.variants_mode, conn.variants_mode_at = "on", utcnow()
    db.session.commit()
    log.info("vk extended mode is on again", extra={"user_id": user_id})
    return 1


def variants_notice(user_id: int) -> bool:
    """True when the dashboard should tell the merchant how to switch on the extended mode: VK refused it and
    the catalog has modification groups (published today as separate items)."""
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=user_id))
    if conn is None or conn.variants_mode not in ("off", "off-write"):
        return False
    return modification_attribute(user_id) is not None
