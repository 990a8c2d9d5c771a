"""A merchant's sync stalls in the sandbox: one alert (email, SMS when asked for), none while it lasts, one when
it clears; the same for Evotor and the VK token; a merchant who gave no phone or no opt-in gets no SMS."""

from __future__ import annotations

import datetime as dt

from evosync.extensions import db
from evosync.models import ConnectionState, Incident, RunStatus, UserStatus, VkConnection, utcnow
from evosync.services.incidents import check_all, open_incident_for
from evosync.services.notifications import sms_outbox
from evosync.services.sync.runner import run_sync
from tests.incidents.conftest import INTERVAL, let_time_pass, open_shop, opt_in, sms_to, subjects

OPENED = "EvoSync: your VK market needs your attention"
CLEARED = "EvoSync: back to normal"
PHONE = "+7 912 000-00-01"


def _sync_ok(shop) -> None:
    run = run_sync(shop.user_id, trigger="schedule")
    assert run.status == RunStatus.SUCCEEDED, (run.status, run.error)


def test_stalled_merchant_gets_exactly_one_alert_and_one_when_it_clears(alerts_app, sandbox):
    """VK fails every run of one merchant: after 3 failed runs they get one email and (opted in) one SMS; the other
    merchant's syncs simply stop, and after 3 intervals they get one email and no SMS (a phone but no opt-in).
    Later checks send nothing; a good sync sends "back to normal" once."""
    shop, quiet = open_shop(sandbox, n_products=4), open_shop(sandbox, n_products=3)
    opt_in(shop.user, PHONE)
    quiet.user.phone = "+7 912 000-00-02"  # a phone but no opt-in: still no SMS
    db.session.commit()
    for s in (shop, quiet):
        _sync_ok(s)
    assert check_all().opened == []

    sandbox.vk.faults.configure(rate=1.0, kinds=("10",), seed=1)  # VK answers every call with an internal error
    for _ in range(3):
        assert run_sync(shop.user_id, trigger="schedule").status == RunStatus.FAILED

    summary = check_all()  # 3 failed runs in a row: "keeps failing" at once
    assert summary.opened == [shop.user_id] and summary.alerts == 1 and summary.sms == 1
    assert open_incident_for(shop.user_id).reasons == ["failing"]
    for s in (shop, quiet):
        let_time_pass(s.user_id, 3 * INTERVAL + dt.timedelta(minutes=5))
    summary = check_all()  # stale now: the other merchant's incident opens, the first one's follows quietly
    assert summary.opened == [quiet.user_id] and summary.alerts == 1 and summary.sms == 0
    assert open_incident_for(shop.user_id).reasons == ["stale", "failing"]
    assert open_incident_for(quiet.user_id).reasons == ["stale"]
    assert check_all().alerts == 0

    assert subjects(alerts_app, shop.user.email) == [OPENED]
    assert subjects(alerts_app, quiet.user.email) == [OPENED]
    (text,) = sms_to(PHONE)
    assert "https://evosync.example/sync" in text
    assert sms_outbox() == [(PHONE, text)], "no SMS without the opt-in"
    body = alerts_app.extensions["mailman"].outbox[0].body
    assert "The last 3 syncs all stopped with a problem." in body and "Traceback" not in body

    sandbox.vk.faults.clear()
    _sync_ok(shop)
    summary = check_all()
    assert summary.resolved == [shop.user_id] and summary.recoveries == 1 and summary.sms == 1
    assert open_incident_for(shop.user_id) is None and open_incident_for(quiet.user_id) is not None
    check_all()
    assert subjects(alerts_app, shop.user.email) == [OPENED, CLEARED]
    assert len(sms_to(PHONE)) == 2 and "back to normal" in sms_to(PHONE)[1]
    assert subjects(alerts_app, quiet.user.email) == [OPENED]
    closed = db.session.scalar(db.select(Incident).where(Incident.user_id == shop.user_id))
    assert closed.close_reason == "resolved" and closed.alert_sms and closed.recovery_sms


def test_merchant_without_phone_gets_email_only(alerts_app, sandbox):
    """Opted in but no phone number: the email goes, no SMS (the opt-in needs both)."""
    shop = open_shop(sandbox, n_products=3)
    shop.user.sms_alerts = True
    db.session.commit()
    _sync_ok(shop)
    let_time_pass(shop.user_id, 3 * INTERVAL + dt.timedelta(minutes=1))
    summary = check_all()
    assert summary.opened == [shop.user_id] and summary.alerts == 1 and summary.sms == 0
    assert subjects(alerts_app, shop.user.email) == [OPENED]
    assert sms_outbox() == []


def test_evotor_refusing_access_opens_an_incident_and_reconnecting_clears_it(alerts_app, sandbox):
    """Evotor revokes the token: the refresh marks the connection broken, the check opens an incident at once."""
    shop = open_shop(sandbox, n_products=3)
    _sync_ok(shop)
    sandbox.evotor.revoke_token(shop.evotor_token)
    from evosync.services.evotor_catalog.refresh import refresh_catalog

    assert refresh_catalog(shop.user_id).status == "broken"
    check_all()
    incident = open_incident_for(shop.user_id)
    assert incident.reasons == ["evotor"] and incident.details["evotor"]["kind"] == "refused"
    (message,) = alerts_app.extensions["mailman"].outbox
    assert "Evotor no longer lets EvoSync read your catalog." in message.body

    from evosync.models import EvotorConnection

    conn = db.session.scalar(db.select(EvotorConnection).filter_by(user_id=shop.user_id))
    conn.state = ConnectionState.CONNECTED  # the merchant reconnected (the Connections page's Test passed)
    db.session.commit()
    assert check_all().resolved == [shop.user_id]
    assert subjects(alerts_app, shop.user.email) == [OPENED, CLEARED]


def test_evotor_silent_for_two_intervals(alerts_app, sandbox):
    """Evotor answers 500 to every call: one failed refresh is not yet an incident, two intervals of silence are."""
    shop = open_shop(sandbox, n_products=3)
    _sync_ok(shop)
    sandbox.evotor.faults.configure(rate=1.0, kinds=("500",), seed=1)
    from evosync.services.evotor_catalog.refresh import refresh_catalog

    assert refresh_catalog(shop.user_id).status == "failed"
    assert check_all(utcnow() + dt.timedelta(minutes=30)).opened == []
    summary = check_all(utcnow() + 2 * INTERVAL + dt.timedelta(minutes=5))
    assert summary.opened == [shop.user_id]
    assert open_incident_for(shop.user_id).details["evotor"]["kind"] == "silent"
    assert "Evotor has not answered EvoSync since" in alerts_app.extensions["mailman"].outbox[0].body


def test_vk_token_that_cannot_be_renewed(alerts_app, sandbox):
    """A VK ID token whose renewal VK ID refused ends within the warning: an incident before the sync stops; a new
    sign-in (a refresh token again) clears it."""
    shop = open_shop(sandbox, n_products=3)
    _sync_ok(shop)
    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=shop.user_id))
    conn.method, conn.refresh_token, conn.device_id = "vkid", None, "device-1"
    conn.token_expires_at = utcnow() + dt.timedelta(hours=20)
    db.session.commit()
    assert check_all().opened == [shop.user_id]
    assert open_incident_for(shop.user_id).reasons == ["vk_token"]
    assert "Your VK sign-in ends on" in alerts_app.extensions["mailman"].outbox[0].body

    conn = db.session.scalar(db.select(VkConnection).filter_by(user_id=shop.user_id))
    conn.refresh_token = "fresh-refresh-token"
    db.session.commit()
    assert check_all().resolved == [shop.user_id]
    assert subjects(alerts_app, shop.user.email) == [OPENED, CLEARED]


def test_suspended_merchant_incident_is_withdrawn_quietly(alerts_app, sandbox):
    """An incident whose rules stop applying (the account is suspended) closes without a "back to normal"."""
    shop = open_shop(sandbox, n_products=3)
    _sync_ok(shop)
    let_time_pass(shop.user_id, 3 * INTERVAL + dt.timedelta(minutes=1))
    assert check_all().opened == [shop.user_id]
    shop.user.status = UserStatus.SUSPENDED
    db.session.commit()
    assert check_all().withdrawn == [shop.user_id]
    assert subjects(alerts_app, shop.user.email) == [OPENED]


def test_merchant_still_setting_up_is_not_alerted(alerts_app, sandbox):
    """Connected but never synced: no stale or failing incident (the checklist guides them instead)."""
    shop = open_shop(sandbox, n_products=3)
    summary = check_all(utcnow() + 10 * INTERVAL)
    assert summary.checked == 1 and summary.opened == [] and open_incident_for(shop.user_id) is None
