"""The getting-started checklist: each step ticked from the database, shown on /profile and /sync until all are done."""

from __future__ import annotations

from evosync.extensions import db
from evosync.models import ConnectionState, EvotorConnection, RunStatus, SyncFilter, SyncRun, VkConnection
from evosync.services.onboarding import onboarding_for
from tests.factories import logged_in_client, make_user

EN = {"Accept-Language": "en"}


def _done(user_id: int) -> dict[str, bool]:
    return {step.key: step.done for step in onboarding_for(user_id).steps}


def test_steps_tick_one_by_one_from_the_database(app):
    """Nothing is done for a new merchant; each row (connection, enabled store, succeeded run) ticks its own step."""
    user = make_user()
    assert _done(user.id) == {"evotor": False, "vk": False, "stores": False, "first_sync": False}
    assert onboarding_for(user.id).next_step.key == "evotor"

    db.session.add(EvotorConnection(user_id=user.id, access_token="evotor-token", state=ConnectionState.CONNECTED))
    db.session.commit()
    assert _done(user.id) == {"evotor": True, "vk": False, "stores": False, "first_sync": False}

    # A VK token without a community is not a connection yet.
    vk = VkConnection(user_id=user.id, access_token="vk-token", state=ConnectionState.CONNECTED)
    db.session.add(vk)
    db.session.commit()
    assert _done(user.id)["vk"] is False
    vk.group_id = 123
    db.session.commit()
    assert _done(user.id)["vk"] is True

    # A disabled store filter, or an enabled group, does not count as a chosen store.
    db.session.add_all(
        [
            SyncFilter(user_id=user.id, entity_type="store", entity_id="s-1", enabled=False),
            SyncFilter(user_id=user.id, entity_type="group", entity_id="g-1", parent_entity_id="s-1", enabled=True),
        ]
    )
    db.session.commit()
    assert _done(user.id)["stores"] is False
    db.session.add(SyncFilter(user_id=user.id, entity_type="store", entity_id="s-2", enabled=True))
    db.session.commit()
    assert _done(user.id)["stores"] is True
    assert onboarding_for(user.id).ready_to_sync

    # Failed runs and dry runs are not the first sync.
    db.session.add_all(
        [
            SyncRun(user_id=user.id, status=RunStatus.FAILED),
            SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED, dry_run=True),
        ]
    )
    db.session.commit()
    assert _done(user.id)["first_sync"] is False
    db.session.add(SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED))
    db.session.commit()
    assert onboarding_for(user.id).complete


def test_a_broken_connection_stays_ticked_but_asks_for_attention(app):
    """A connection that worked once and broke is done, flagged for attention; another merchant's rows never count."""
    user, other = make_user(), make_user()
    db.session.add(EvotorConnection(user_id=user.id, access_token="evotor-token", state=ConnectionState.BROKEN))
    db.session.add(SyncRun(user_id=other.id, status=RunStatus.SUCCEEDED))
    db.session.commit()
    steps = {step.key: step for step in onboarding_for(user.id).steps}
    assert steps["evotor"].done and steps["evotor"].attention
    assert not steps["first_sync"].done


def test_checklist_on_profile_and_dashboard_links_each_step_and_hides_when_complete(app):
    """Profile and dashboard show the checklist with a link per step; once all four are done it is gone from both."""
    user = make_user()
    client = logged_in_client(app, user)
    for path in ("/profile", "/sync"):
        page = client.get(path, headers=EN).get_data(as_text=True)
        assert 'id="onboarding"' in page, path
        assert 'href="/connections#evotor"' in page and 'href="/connections#vk"' in page
        assert 'href="/catalog/stores"' in page and 'href="/sync#sync-now-form"' in page
        assert page.count('data-done="no"') == 4
        assert "0 of 4 steps done" in page

    db.session.add_all(
        [
            EvotorConnection(user_id=user.id, access_token="evotor-token", state=ConnectionState.CONNECTED),
            VkConnection(user_id=user.id, access_token="vk-token", group_id=5, state=ConnectionState.CONNECTED),
            SyncFilter(user_id=user.id, entity_type="store", entity_id="s-1", enabled=True),
        ]
    )
    db.session.commit()
    page = client.get("/profile", headers=EN).get_data(as_text=True)
    assert 'data-step="vk" data-done="yes"' in page and 'data-step="first_sync" data-done="no"' in page
    assert "3 of 4 steps done" in page

    db.session.add(SyncRun(user_id=user.id, status=RunStatus.PARTIAL))
    db.session.commit()
    for path in ("/profile", "/sync"):
        assert 'id="onboarding"' not in client.get(path, headers=EN).get_data(as_text=True), path


def test_staff_without_a_shop_see_no_checklist_on_their_profile(app):
    """An administrator's profile has no shop to set up, so no checklist."""
    admin = make_user(roles=("admin",))
    page = logged_in_client(app, admin).get("/profile", headers=EN).get_data(as_text=True)
    assert "Your profile" in page and 'id="onboarding"' not in page
