"""When a merchant is in trouble: plain facts in, the problems that hold (and the rules that applied) out.

No database, no Flask: ``assess`` is a pure function, tested table by table (tests/incidents/test_rules.py).

The four rules (each applies only to an active account):

* ``stale``: no successful sync (finished, even with some products refused) for 3 x the refresh interval.
  Applies when both connections are set up, automatic sync is on and the merchant has synced before (a
  merchant still setting up is not alerted).
* ``failing``: the last ``failed_runs`` finished runs (3 by default; cancelled runs do not count) all failed,
  among the runs of the last (failed_runs + 1) intervals. Applies when both connections are set up and the
  merchant has synced before.
* ``vk_token``: the VK token ends within ``token_warning`` (or has ended) and cannot be renewed: not a VK ID
  connection, or VK ID refused a renewal before (the refresh token is gone). A token pasted by hand has no
  known end, so it never opens this.
* ``evotor``: Evotor refuses EvoSync's access (the connection is broken), or Evotor has not answered since
  2 x the refresh interval: the latest attempt failed and the last success is older than that. A pause Evotor
  asked for (HTTP 429) is not silence.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

STALE = "stale"
FAILING = "failing"
VK_TOKEN = "vk_token"
EVOTOR = "evotor"
REASONS = (STALE, FAILING, VK_TOKEN, EVOTOR)  # the order the merchant reads them in

BROKEN = "broken"  # ConnectionState.BROKEN (models are not imported here)
STALE_INTERVALS = 3
EVOTOR_SILENT_INTERVALS = 2


@dataclass(frozen=True)
class Limits:
    """The thresholds, from the configuration."""

    interval: dt.timedelta  # CATALOG_REFRESH_INTERVAL_SECONDS: every merchant is refreshed and synced this often
    failed_runs: int = 3
    token_warning: dt.timedelta = dt.timedelta(hours=72)

    @property
    def stale_after(self) -> dt.timedelta:
        return STALE_INTERVALS * self.interval

    @property
    def evotor_silent_after(self) -> dt.timedelta:
        return EVOTOR_SILENT_INTERVALS * self.interval

    @property
    def runs_window(self) -> dt.timedelta:
        """How far back runs are read: enough for the stale window and for ``failed_runs`` scheduled runs."""
        return (max(STALE_INTERVALS, self.failed_runs) + 1) * self.interval


@dataclass(frozen=True)
class EvotorFacts:
    state: str
    connected_at: dt.datetime
    last_ok_at: dt.datetime | None = None
    last_error_at: dt.datetime | None = None
    paused_until: dt.datetime | None = None


@dataclass(frozen=True)
class VkFacts:
    state: str
    connected_at: dt.datetime
    token_expires_at: dt.datetime | None = None
    can_refresh: bool = False


@dataclass(frozen=True)
class Facts:
    """What is known of one merchant; ``evotor``/``vk`` are None when that side is not connected."""

    user_id: int
    active: bool = True
    auto_sync: bool = True
    evotor: EvotorFacts | None = None
    vk: VkFacts | None = None
    has_synced: bool = False  # a successful run ever (or an open incident that says so): past setting up
    last_success_at: dt.datetime | None = None
    recent_results: tuple[str, ...] = ()  # finished runs' statuses in the window, newest first
    waiting_confirmation: bool = False  # the newest finished run waits for the merchant to confirm removals


@dataclass
class Assessment:
    """``problems``: reason -> details (JSON-able, for the wording); ``checked``: the rules that applied."""

    problems: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)

    @property
    def reasons(self) -> list[str]:
        return [r for r in REASONS if r in self.problems]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def assess(facts: Facts, now: dt.datetime, limits: Limits) -> Assessment:
    """The problems of one merchant at ``now``."""
    out = Assessment()
    if not facts.active:
        return out
    syncs = facts.evotor is not None and facts.vk is not None and facts.has_synced
    if syncs and facts.auto_sync:
        out.checked.add(STALE)
        if facts.last_success_at is None or now - facts.last_success_at > limits.stale_after:
            out.problems[STALE] = {
                "last_success_at": _iso(facts.last_success_at),
                "waiting_confirmation": facts.waiting_confirmation,
            }
    if syncs:
        out.checked.add(FAILING)
        latest = facts.recent_results[: limits.failed_runs]
        if len(latest) == limits.failed_runs and all(status == "failed" for status in latest):
            out.problems[FAILING] = {"runs": limits.failed_runs}
    if facts.vk is not None:
        out.checked.add(VK_TOKEN)
        expires = facts.vk.token_expires_at
        if expires is not None and not facts.vk.can_refresh and expires - now <= limits.token_warning:
            out.problems[VK_TOKEN] = {"expires_at": _iso(expires), "expired": expires <= now}
    if facts.evotor is not None:
        out.checked.add(EVOTOR)
        problem = _evotor_problem(facts.evotor, now, limits)
        if problem:
            out.problems[EVOTOR] = problem
    return out


def _evotor_problem(evotor: EvotorFacts, now: dt.datetime, limits: Limits) -> dict[str, Any] | None:
    if evotor.state == BROKEN:
        return {"kind": "refused", "since": _iso(evotor.last_error_at)}
    if evotor.paused_until and evotor.paused_until > now:
        return None
    last_ok = evotor.last_ok_at or evotor.connected_at
    failing_now = evotor.last_error_at is not None and evotor.last_error_at >= last_ok
    if failing_now and now - last_ok > limits.evotor_silent_after:
        return {"kind": "silent", "since": _iso(evotor.last_ok_at)}
    return None
