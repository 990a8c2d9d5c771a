"""What people see of an incident: the merchant's red banner (only their own), the SMS opt-in on the profile
(CSRF-protected), the admin overview's line, and the periodic job in the schedule."""

from __future__ import annotations

import datetime as dt
import re

from evosync.extensions import db
from evosync.jobs.incidents import check_incidents_job
from evosync.jobs.schedule import periodic_jobs
from evosync.models import RunStatus, SyncRun, utcnow
from evosync.services.incidents import check_all, open_incident_for
from tests.factories import logged_in_client, make_user
from tests.incidents.conftest import stalled_merchant


def _page(client, path: str, **kwargs) -> str:
    resp = client.get(path, **kwargs)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def test_banner_shows_the_merchants_own_incident_and_goes_when_it_clears(app):
    """A stalled merchant sees the red banner in plain words; another merchant does not; a good sync removes it."""
    stalled, fine = stalled_merchant(hours=4), stalled_merchant(hours=1)
    summary = check_all()
    assert summary.opened == [stalled.id]

    page = _page(logged_in_client(app, stalled), "/sync")
    banner = re.search(r'<div class="alert alert-danger" role="alert" id="incident-banner".*?</div>', page, re.S)
    assert banner, "no banner"
    assert "Syncing with VK needs your attention" in banner.group(0)
    assert "Your VK market has not been updated since" in banner.group(0)
    assert 'data-reasons="stale"' in banner.group(0)
    assert "incident-banner" not in _page(logged_in_client(app, fine), "/sync")

    db.session.add(SyncRun(user_id=stalled.id, status=RunStatus.SUCCEEDED, finished_at=utcnow()))
    db.session.commit()
    assert check_all().resolved == [stalled.id]
    assert "incident-banner" not in _page(logged_in_client(app, stalled), "/sync")


def test_banner_in_russian(app):
    """The words follow the merchant's language: Russian by default in production."""
    user = stalled_merchant()
    check_all()
    page = _page(logged_in_client(app, user), "/sync", headers={"Accept-Language": "ru"})
    assert "Синхронизация с VK требует вашего внимания" in page and "Товары в VK не обновлялись с" in page


def test_alert_email_is_in_the_merchants_language(app):
    """A merchant who chose English reads an English email; one who chose nothing, the default language (Russian)."""
    app.config["BABEL_DEFAULT_LOCALE"] = "ru"
    english, russian = stalled_merchant(locale="en"), stalled_merchant()
    check_all()
    outbox = {m.to[0]: m for m in app.extensions["mailman"].outbox}
    assert outbox[english.email].subject == "EvoSync: your VK market needs your attention"
    assert "Your VK market has not been updated since" in outbox[english.email].body
    assert outbox[russian.email].subject == "EvoSync: товары в VK требуют вашего внимания"
    assert "Traceback" not in outbox[russian.email].body


def test_sms_opt_in_on_the_profile(app):
    """The box is saved with a phone, refused without one (next to the field), and shown on the profile."""
    user = make_user()
    client = logged_in_client(app, user)
    resp = client.post("/profile/edit", data={"name": "", "phone": "", "email": user.email, "sms_alerts": "y"})
    assert resp.status_code == 400 and "Enter your phone number above to get SMS alerts." in resp.get_data(as_text=True)
    db.session.refresh(user)
    assert user.sms_alerts is False

    resp = client.post(
        "/profile/edit", data={"name": "", "phone": "+7 912 000-00-09", "email": user.email, "sms_alerts": "y"}
    )
    assert resp.status_code == 302
    db.session.refresh(user)
    assert user.sms_alerts is True
    assert re.search(r'id="profile-sms-alerts">On<', _page(client, "/profile"))

    resp = client.post("/profile/edit", data={"name": "", "phone": "+7 912 000-00-09", "email": user.email})
    db.session.refresh(user)
    assert resp.status_code == 302 and user.sms_alerts is False


def test_sms_opt_in_needs_the_csrf_token(app):
    """With CSRF on (as in production) a post without the form's token changes nothing; with it, it saves."""
    user = make_user(phone="+7 912 000-00-10")
    client = logged_in_client(app, user)
    app.config["WTF_CSRF_ENABLED"] = True
    data = {"name": "", "phone": user.phone, "email": user.email, "sms_alerts": "y"}
    assert client.post("/profile/edit", data=data).status_code == 400
    db.session.refresh(user)
    assert user.sms_alerts is False
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', _page(client, "/profile/edit")).group(1)
    assert client.post("/profile/edit", data={**data, "csrf_token": token}).status_code == 302
    db.session.refresh(user)
    assert user.sms_alerts is True


def test_admin_overview_lists_open_incidents(app):
    """One line a merchant in trouble: their email, what holds, since when, how they were alerted."""
    stalled = stalled_merchant(phone="+7 912 000-00-11", sms_alerts=True)
    stalled_merchant(hours=1)
    check_all()
    admin = make_user(roles=("admin",))
    page = _page(logged_in_client(app, admin), "/admin/")
    card = re.search(r'id="open-incidents".*?</div>\s*</div>', page, re.S).group(0)
    assert "Open incidents: 1" in card
    assert stalled.email in card and "no successful sync for 3 intervals" in card
    assert "alerted by email and SMS" in card


def test_the_check_is_a_periodic_job(app):
    """check_incidents runs every INCIDENT_CHECK_INTERVAL_SECONDS; the job returns the check's summary."""
    app.config["INCIDENT_CHECK_INTERVAL_SECONDS"] = 300
    entry = next(e for e in periodic_jobs(app.config) if e.name == "check_incidents")
    assert entry.interval == 300 and entry.func is check_incidents_job
    user = stalled_merchant()
    result = check_incidents_job()
    assert result["opened"] == [user.id] and result["alerts"] == 1
    assert open_incident_for(user.id) is not None
    assert check_incidents_job()["alerts"] == 0


def test_only_one_incident_opens_however_many_checks(app):
    """The open-incident index holds one per merchant: a check that lost the race opens nothing and sends nothing."""
    from evosync.models import Incident
    from evosync.services.incidents.checks import _open

    user = stalled_merchant()
    first = _open(user.id, ["stale"], {}, utcnow())
    assert first is not None
    assert _open(user.id, ["stale"], {}, utcnow() + dt.timedelta(seconds=1)) is None
    assert db.session.scalar(db.select(db.func.count(Incident.id))) == 1


def test_runs_are_read_newest_first_by_time(app):
    """A run row written later but for an older time (ids are not times) does not hide a recent success."""
    user = stalled_merchant(hours=0.5)
    old = utcnow() - dt.timedelta(hours=3, minutes=30)
    db.session.add(SyncRun(user_id=user.id, status=RunStatus.SUCCEEDED, created_at=old, finished_at=old))
    db.session.commit()
    assert check_all().opened == []


def test_an_alert_that_could_not_go_is_sent_at_the_next_check(app):
    """The mail server refuses (nothing listens): the claim is released, the incident stays open, and the next
    check sends the one alert."""
    from tests.services import free_port

    user = stalled_merchant()
    app.config.update(EMAIL_PROVIDER="smtp", MAIL_BACKEND="", SMTP_HOST="127.0.0.1", SMTP_PORT=free_port())
    app.config.update(SMTP_USE_TLS=False, SMTP_TIMEOUT=2.0)
    summary = check_all()
    assert summary.opened == [user.id] and summary.alerts == 0
    assert open_incident_for(user.id).alerted_at is None
    app.config.update(EMAIL_PROVIDER="console", MAIL_BACKEND="locmem")
    assert check_all().alerts == 1
    assert check_all().alerts == 0
    assert [m.subject for m in app.extensions["mailman"].outbox] == ["EvoSync: your VK market needs your attention"]
    assert open_incident_for(user.id).alerted_at is not None
