"""Settings: VK categories cached for a day with a fallback list, defaults, and the next scheduled run."""

from __future__ import annotations

import datetime as dt
import socket

from rq_scheduler import Scheduler

from evosync.extensions import db
from evosync.models import SyncConfig
from evosync.redis_conn import get_redis
from evosync.services.sync import settings as svc
from tests.sync_web.conftest import html


def _category_calls(sandbox) -> int:
    return sandbox.vk.stats["methods"].get("market.getCategories", 0)


def test_categories_come_from_vk_once_a_day(web, shop):
    """The first settings page asks VK for categories; the next pages use the cached copy (a day long)."""
    assert "Напитки" in html(web.get("/sync/settings"))
    assert _category_calls(shop.sandbox) == 1
    assert 23 * 3600 < get_redis().ttl(svc.CATEGORIES_KEY) <= 24 * 3600
    html(web.get("/sync/settings"))
    assert _category_calls(shop.sandbox) == 1


def test_categories_fall_back_when_vk_cannot_be_reached(fast_vk, web, shop):
    """With VK unreachable the page still offers the built-in list, says so, and does not ask VK again at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    fast_vk.config["VK_API_URL"] = f"http://127.0.0.1:{closed_port}/method"
    page = html(web.get("/sync/settings"))
    assert 'id="categories-fallback"' in page and "Другое" in page
    assert get_redis().get(svc.CATEGORIES_KEY) is None, "the fallback is never cached as VK's list"
    fast_vk.config["VK_API_URL"] = shop.sandbox.vk_url
    assert 'id="categories-fallback"' in html(web.get("/sync/settings")), "VK is asked again only after a pause"
    assert _category_calls(shop.sandbox) == 0


def test_defaults_are_shown_and_a_valid_save_stores_every_field(web, shop):
    """A merchant who never saved sees the defaults; saving stores each field as entered."""
    page = html(web.get("/sync/settings"))
    assert 'value="0.00"' in page or 'value="0"' in page
    form = {
        "markup_percent": "-12.5",
        "price_rounding": "ninety_nine",
        "out_of_stock": "remove",
        "removal": "unavailable",
        "category_id": "701",
        "description_template": "  {name} ({code})  ",
        "albums_enabled": "",
        "publish_services": "y",
    }
    assert web.post("/sync/settings", data=form).status_code == 302
    row = db.session.scalar(db.select(SyncConfig).filter_by(user_id=shop.user_id))
    assert (row.price_rounding, row.out_of_stock, row.removal, row.category_id) == (
        "ninety_nine",
        "remove",
        "unavailable",
        701,
    )
    assert str(row.markup_percent) == "-12.50" and row.description_template == "{name} ({code})"
    assert row.albums_enabled is False and row.publish_services is True and row.auto_sync is False
    page = html(web.get("/sync/settings"))
    assert 'value="-12.50"' in page and '<option selected value="701">' in page


def test_template_rules():
    """Only the five known placeholders pass; a stray brace is text; 2000 characters is the limit."""
    assert svc.template_error("{name} {article} {code} {measure} {price}") is None
    assert svc.template_error("Price: {price} {rub}") == "Unknown placeholder: {rub}"
    assert svc.template_error("{} and {0}") == "Unknown placeholder: {}, {0}"
    assert svc.template_error("a { b } c") is None
    assert svc.template_error("x" * 2000) is None and svc.template_error("x" * 2001)


def test_dashboard_shows_the_next_scheduled_refresh(web, shop):
    """When rq-scheduler holds the periodic catalog refresh, the dashboard says when the next sync comes."""
    due = dt.datetime(2031, 5, 6, 7, 8, tzinfo=dt.UTC)
    get_redis().zadd(Scheduler.scheduled_jobs_key, {"periodic-refresh_catalog": due.timestamp()})
    page = html(web.get("/sync"))
    assert 'datetime="2031-05-06T07:08:00Z"' in page
    web.post(
        "/sync/settings",
        data={
            "markup_percent": "0",
            "price_rounding": "none",
            "out_of_stock": "unavailable",
            "removal": "delete",
            "category_id": "900",
        },
    )
    page = html(web.get("/sync"))
    assert "2031-05-06T07:08" not in page and "Only when you press «Sync now»" in page
