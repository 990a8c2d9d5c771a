"""The incident rules as a table: plain facts in, the problems that hold and the rules that applied out."""

from __future__ import annotations

import datetime as dt

import pytest

from evosync.services.incidents.rules import (
    EVOTOR,
    FAILING,
    STALE,
    VK_TOKEN,
    EvotorFacts,
    Facts,
    Limits,
    VkFacts,
    assess,
)

NOW = dt.datetime(2026, 12, 3, 12, 0)
H = dt.timedelta(hours=1)
LIMITS = Limits(interval=H, failed_runs=3, token_warning=72 * H)
EVOTOR_OK = EvotorFacts(state="connected", connected_at=NOW - 100 * H, last_ok_at=NOW - H / 2)
VK_OK = VkFacts(state="connected", connected_at=NOW - 100 * H)


def merchant(**changes) -> Facts:
    """A healthy merchant: both sides connected, synced half an hour ago; ``changes`` make them unhealthy."""
    base = {
        "user_id": 1,
        "evotor": EVOTOR_OK,
        "vk": VK_OK,
        "has_synced": True,
        "last_success_at": NOW - H / 2,
        "recent_results": ("succeeded", "failed"),
    }
    return Facts(**{**base, **changes})


CASES = [
    ("healthy", merchant(), []),
    ("synced 2h59m ago", merchant(last_success_at=NOW - 3 * H + dt.timedelta(minutes=1)), []),
    ("synced 3h01m ago", merchant(last_success_at=NOW - 3 * H - dt.timedelta(minutes=1)), [STALE]),
    ("no known success, synced before", merchant(last_success_at=None), [STALE]),
    ("stale but automatic sync off", merchant(last_success_at=NOW - 10 * H, auto_sync=False), []),
    ("never synced: still setting up", merchant(has_synced=False, last_success_at=None, recent_results=()), []),
    ("never synced, 3 failed runs", merchant(has_synced=False, recent_results=("failed",) * 3), []),
    ("suspended account", merchant(active=False, last_success_at=NOW - 10 * H), []),
    ("VK not connected", merchant(vk=None, last_success_at=NOW - 10 * H), []),
    ("3 failed in a row", merchant(recent_results=("failed", "failed", "failed", "succeeded")), [FAILING]),
    ("2 failed, then a success", merchant(recent_results=("failed", "failed", "succeeded", "failed")), []),
    ("only 2 runs, both failed", merchant(recent_results=("failed", "failed")), []),
    (
        "waiting for confirmation breaks the row",
        merchant(recent_results=("failed", "waiting_confirmation", "failed")),
        [],
    ),
    (
        "VK token ends in 71h, no refresh",
        merchant(vk=VkFacts("connected", NOW - 100 * H, token_expires_at=NOW + 71 * H)),
        [VK_TOKEN],
    ),
    ("VK token ends in 73h, no refresh", merchant(vk=VkFacts("connected", NOW - 100 * H, NOW + 73 * H)), []),
    (
        "VK ID token ends in 1h, renewable",
        merchant(vk=VkFacts("connected", NOW - 100 * H, NOW + H, can_refresh=True)),
        [],
    ),
    ("VK token ended, broken", merchant(vk=VkFacts("broken", NOW - 100 * H, NOW - H)), [VK_TOKEN]),
    ("Evotor refuses (broken)", merchant(evotor=EvotorFacts("broken", NOW - 100 * H, NOW - H, NOW - H)), [EVOTOR]),
    (
        "Evotor failing for 1h59m",
        merchant(evotor=EvotorFacts("connected", NOW - 100 * H, NOW - 2 * H + dt.timedelta(minutes=1), NOW)),
        [],
    ),
    (
        "Evotor failing for 2h01m",
        merchant(evotor=EvotorFacts("connected", NOW - 100 * H, NOW - 2 * H - dt.timedelta(minutes=1), NOW)),
        [EVOTOR],
    ),
    (
        "Evotor old success but no error since",
        merchant(evotor=EvotorFacts("connected", NOW - 100 * H, NOW - 5 * H, None)),
        [],
    ),
    (
        "Evotor paused by its rate limit",
        merchant(evotor=EvotorFacts("connected", NOW - 100 * H, NOW - 5 * H, NOW, paused_until=NOW + H)),
        [],
    ),
    (
        "Evotor never answered since connecting 3h ago",
        merchant(evotor=EvotorFacts("connected", NOW - 3 * H, None, NOW - H)),
        [EVOTOR],
    ),
    (
        "everything at once",
        merchant(
            last_success_at=NOW - 4 * H,
            recent_results=("failed",) * 3,
            vk=VkFacts("connected", NOW - 100 * H, NOW + H),
            evotor=EvotorFacts("broken", NOW - 100 * H),
        ),
        [STALE, FAILING, VK_TOKEN, EVOTOR],
    ),
]


@pytest.mark.parametrize(("facts", "expected"), [pytest.param(f, e, id=name) for name, f, e in CASES])
def test_rules(facts, expected):
    """Each row: the problems that hold, in the order the merchant reads them."""
    assert assess(facts, NOW, LIMITS).reasons == expected


def test_rules_that_applied_decide_resolved_or_withdrawn():
    """A suspended account has no rule applying (an open incident is withdrawn); a healthy one has all four."""
    assert assess(merchant(active=False), NOW, LIMITS).checked == set()
    assert assess(merchant(), NOW, LIMITS).checked == {STALE, FAILING, VK_TOKEN, EVOTOR}
    assert assess(merchant(auto_sync=False), NOW, LIMITS).checked == {FAILING, VK_TOKEN, EVOTOR}


def test_details_carry_only_times_and_counts():
    """The details the words are made of: no error text can reach an email."""
    problems = assess(merchant(last_success_at=NOW - 4 * H, recent_results=("failed",) * 3), NOW, LIMITS).problems
    assert problems == {
        STALE: {"last_success_at": "2026-12-03T08:00:00", "waiting_confirmation": False},
        FAILING: {"runs": 3},
    }


def test_the_failing_rule_follows_the_setting():
    """INCIDENT_FAILED_RUNS=1: a single failed run is enough."""
    limits = Limits(interval=H, failed_runs=1)
    assert assess(merchant(recent_results=("failed", "succeeded")), NOW, limits).reasons == [FAILING]
