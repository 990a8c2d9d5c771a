"""The sets of sandbox readings the tests that talk to the emulators run under (see evosync/sandbox/readings.py).

- ``PROFILES``: the sync, fault and end-to-end suites run under each. Together they give every switch every
  value: the first-release behaviour, the hardest VK combination of readings 1-3 (with Evotor taking only
  X-Authorization), and every switch away from its default (Evotor taking only Bearer).
- ``STORY_READINGS``: the end-to-end sync story (tests/sync_engine/test_readings_story.py) runs under every
  combination of readings 1-3 and each of the others alone.
"""

from __future__ import annotations

import itertools
import json
import os

import pytest

from evosync.sandbox.readings import Readings

VK_REMOVED = Readings(
    hidden_availability=1,
    hidden_needs_with_disabled=True,
    deleted_returned=True,
    grouped_need_variants=True,
    evotor_auth_header="x-authorization",
    photo_bulk_max_files=2,
    upload_url_reuse=False,
)
ALL_OTHER = Readings(
    hidden_availability=1,
    hidden_needs_with_disabled=True,
    deleted_returned=True,
    photo_saves_in_execute=False,
    get_returns_sku=False,
    properties_when_off="empty",
    group_items_with_id="replaces",
    grouped_need_variants=True,
    evotor_auth_header="bearer",
    order_callbacks="repeated_out_of_order",
    vk_decrements_stock=True,
    photo_bulk="unknown_method",
    photo_bulk_in_execute=False,
)
PROFILES = [
    pytest.param(Readings(), id="readings-default"),
    pytest.param(VK_REMOVED, id="readings-vk-removed"),
    pytest.param(ALL_OTHER, id="readings-all-other"),
]

STORY_READINGS = [
    pytest.param(
        Readings(hidden_availability=a, hidden_needs_with_disabled=w, deleted_returned=d),
        id=f"hidden-as-{a}{'-needs-with-disabled' if w else ''}{'-deleted-returned' if d else ''}",
    )
    for a, w, d in itertools.product((2, 1), (False, True), (False, True))
] + [
    pytest.param(Readings(photo_saves_in_execute=False), id="photo-saves-refused-in-execute"),
    pytest.param(Readings(get_returns_sku=False), id="no-sku-in-answers"),
    pytest.param(Readings(properties_when_off="empty"), id="properties-read-while-mode-off"),
    pytest.param(Readings(group_items_with_id="replaces"), id="group-items-replaces"),
    pytest.param(Readings(grouped_need_variants=True), id="grouped-need-variants"),
    pytest.param(Readings(evotor_auth_header="x-authorization"), id="evotor-x-authorization-only"),
    pytest.param(Readings(evotor_auth_header="bearer"), id="evotor-bearer-only"),
    pytest.param(Readings(photo_bulk="unknown_method"), id="photo-bulk-unknown"),
    pytest.param(Readings(photo_bulk_max_files=2), id="photo-bulk-two-files"),
    pytest.param(Readings(photo_bulk_in_execute=False), id="photo-bulk-refused-in-execute"),
    pytest.param(Readings(upload_url_reuse=False), id="upload-address-once"),
]


def parametrize_with_profiles(metafunc) -> None:
    """For a conftest's ``pytest_generate_tests``: every test using the sandbox runs under each profile."""
    if "sandbox" in metafunc.fixturenames and "readings" not in _already_parametrized(metafunc):
        metafunc.parametrize("readings", PROFILES, indirect=True)


def _already_parametrized(metafunc) -> set[str]:
    names = set()
    for marker in metafunc.definition.iter_markers("parametrize"):
        args = marker.args[0]
        names |= {a.strip() for a in args.split(",")} if isinstance(args, str) else set(args)
    return names


def report(readings: Readings, **figures) -> None:
    """Print a test's figures under ``readings``; with EVOSYNC_READINGS_REPORT set, also append them there as a
    JSON line (bench/readings_bench.py collects them for bench/RESULTS.md)."""
    line = {"readings": readings.label(), **figures}
    print("readings report", json.dumps(line, ensure_ascii=False, default=str))
    path = os.environ.get("EVOSYNC_READINGS_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
