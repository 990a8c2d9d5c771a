"""Bad input: oversized bodies are refused (JSON for webhooks, a page for forms); every JSON endpoint is in the
OpenAPI document, so tests/test_schemathesis.py (no 5xx, answers match the schema) really covers all of them.

Hostile product data through the mapping and the plan: tests/sync/test_plan_properties.py (hypothesis).
"""

from __future__ import annotations

import json

import pytest

from evosync import openapi
from evosync.services.evotor_events.signature import sign
from tests.factories import logged_in_client, make_user

SECRET = "oversize-secret"
WEBHOOKS = ["/user/create", "/user/verify", "/user/token", "/evotor/events/install", "/evotor/events/catalog"]
JSON_ENDPOINT_PREFIXES = ("/api/", "/user/", "/evotor/", "/health", "/connections/evotor/test", "/connections/vk/test")


def _huge(app) -> bytes:
    return json.dumps({"userId": "01-1", "blob": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)}).encode()


@pytest.mark.parametrize("path", WEBHOOKS)
def test_oversized_webhook_bodies_are_413_json(app, client, path):
    """A body past MAX_CONTENT_LENGTH on any webhook (partner secret or HMAC signature valid) answers 413 JSON
    in Evotor's error shape, never an HTML page or a 5xx."""
    app.config["EVOTOR_WEBHOOK_SECRET"] = SECRET
    body = _huge(app)
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    headers["X-Hub-Signature"] = sign(body, SECRET)
    resp = client.post(path, data=body, headers=headers)
    assert resp.status_code == 413, (path, resp.status_code)
    assert resp.is_json and resp.get_json()["errors"][0]["code"]


@pytest.mark.parametrize("path", ["/sync/settings", "/connections/vk", "/profile/edit", "/login", "/register"])
def test_oversized_form_posts_get_a_friendly_page(app, path):
    """A form POST past MAX_CONTENT_LENGTH (with CSRF on, as in production) answers the 413 page in words,
    without a traceback, logged in or not."""
    client = logged_in_client(app, make_user()) if path not in ("/login", "/register") else app.test_client()
    app.config["WTF_CSRF_ENABLED"] = True
    client.get("/language/en")
    resp = client.post(
        path,
        data={"name": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)},
        headers={"Accept": "text/html"},
    )
    assert resp.status_code == 413
    page = resp.get_data(as_text=True)
    assert "The upload is too large" in page and "Traceback" not in page
    assert "<html" in page.lower()


def test_every_json_endpoint_is_in_the_openapi_document(app):
    """Every route that answers JSON to programs is documented (method included), so the schemathesis run
    that walks /openapi.json covers it; the document served is the registry's."""
    documented = openapi.registered_paths()
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(JSON_ENDPOINT_PREFIXES) or rule.rule == "/openapi.json":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
            if method.lower() not in documented.get(path, set()):
                missing.append(f"{method} {rule.rule}")
    assert missing == []
    served = app.test_client().get("/openapi.json").get_json()
    assert set(served["paths"]) == set(documented)
