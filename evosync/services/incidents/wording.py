"""An incident in the merchant's words, in the current locale: what is wrong and what to do, one line a reason.

Shared by the dashboard banner, the emails and the SMS, so all three say the same thing. Only facts kept in
the incident's details (times, counts) go into the words: never an error text or a stack trace.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from . import rules

# Short names for staff (the admin overview).
REASON_LABELS = {
    rules.STALE: _l("no successful sync for 3 intervals"),
    rules.FAILING: _l("the last syncs failed"),
    rules.VK_TOKEN: _l("VK token ends, cannot be renewed"),
    rules.EVOTOR: _l("Evotor refuses or does not answer"),
}

CONNECTIONS = "connections"  # where the merchant fixes it: the Connections page ...
DASHBOARD = "dashboard"  # ... or the sync dashboard


@dataclass(frozen=True)
class Line:
    reason: str
    text: str  # what is wrong
    hint: str  # what to do
    where: str  # CONNECTIONS or DASHBOARD


def _when(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return None


def lines(reasons: list[str], details: dict[str, Any] | None) -> list[Line]:
    """One Line per reason, in the order rules.REASONS gives."""
    details = details or {}
    out = []
    for reason in rules.REASONS:
        if reason in reasons:
            out.append(_line(reason, details.get(reason) or {}))
    return out


def _line(reason: str, info: dict[str, Any]) -> Line:
    if reason == rules.STALE:
        when = _when(info.get("last_success_at"))
        text = (
            _("Your VK market has not been updated since %(when)s UTC.", when=when)
            if when
            else _("Your VK market has not been updated for a long time.")
        )
        if info.get("waiting_confirmation"):
            hint = _("A sync is waiting for you to confirm the removal of products: open the dashboard to decide.")
        else:
            hint = _("Open the dashboard to see the last syncs, or press «Sync now» to try at once.")
        return Line(reason, text, hint, DASHBOARD)
    if reason == rules.FAILING:
        runs = int(info.get("runs") or 1)
        text = ngettext(
            "The last sync stopped with a problem.", "The last %(num)s syncs all stopped with a problem.", runs
        )
        return Line(reason, text, _("The dashboard shows why each sync stopped."), DASHBOARD)
    if reason == rules.VK_TOKEN:
        when = _when(info.get("expires_at"))
        if info.get("expired") or not when:
            text = _("Your VK sign-in has ended and EvoSync cannot renew it, so your VK market is no longer updated.")
        else:
            text = _("Your VK sign-in ends on %(when)s UTC and EvoSync cannot renew it.", when=when)
        return Line(reason, text, _("Connect VK again on the Connections page; your settings are kept."), CONNECTIONS)
    # rules.EVOTOR
    if info.get("kind") == "refused":
        return Line(
            reason,
            _("Evotor no longer lets EvoSync read your catalog."),
            _("Reconnect Evotor on the Connections page, and check that the EvoSync app is installed and paid for."),
            CONNECTIONS,
        )
    when = _when(info.get("since"))
    text = (
        _("Evotor has not answered EvoSync since %(when)s UTC.", when=when)
        if when
        else _("Evotor has not answered EvoSync for a long time.")
    )
    hint = _("EvoSync keeps trying. If Evotor works for you, check that the EvoSync app is still installed in Evotor.")
    return Line(reason, text, hint, CONNECTIONS)


def sms_opened(link: str) -> str:
    return _("EvoSync: your VK market is not being updated, or soon will not be. What to do: %(link)s", link=link)


def sms_cleared() -> str:
    return _("EvoSync: back to normal, your VK market is being updated again.")
