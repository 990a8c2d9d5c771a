"""API docs: /openapi.json documents every JSON endpoint; /docs and /redoc work with local assets only."""

from __future__ import annotations

import re

import pytest

from evosync import openapi

DOCUMENTED = {
    ("/user/create", "post"),
    ("/user/verify", "post"),
    ("/user/token", "post"),
    ("/evotor/events/install", "post"),
    ("/connections/evotor/test", "post"),
    ("/connections/vk/test", "post"),
    ("/health", "get"),
}


def test_openapi_document_lists_the_json_endpoints(client):
    """The document is OpenAPI 3.0 and has request and response schemas for each JSON endpoint."""
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.0")
    for path, method in DOCUMENTED:
        operation = document["paths"][path][method]
        assert "200" in operation["responses"], (path, method)
        if path.startswith(("/user/", "/evotor/")):
            assert operation["requestBody"]["content"]["application/json"]["schema"]
            assert operation["security"] == [{"partnerSecret": []}]


def test_every_documented_path_exists_in_the_app(app):
    """No documented path is a typo: each one is a route of the app with that method."""
    routes = {(rule.rule, method.lower()) for rule in app.url_map.iter_rules() for method in rule.methods}
    for path, methods in openapi.registered_paths().items():
        for method in methods:
            assert (path, method) in routes, (path, method)


def test_register_path_validates_and_replaces():
    """register_path refuses bad input and a second registration replaces the first."""
    with pytest.raises(ValueError):
        openapi.register_path("/x", "fetch", {"responses": {}})
    with pytest.raises(ValueError):
        openapi.register_path("x", "get", {"responses": {}})
    with pytest.raises(ValueError):
        openapi.register_path("/x", "get", {})
    try:
        openapi.register_path("/_test/doc", "GET", {"responses": {"200": {"description": "one"}}})
        openapi.register_path("/_test/doc", "get", {"responses": {"200": {"description": "two"}}})
        assert openapi.build_document()["paths"]["/_test/doc"]["get"]["responses"]["200"]["description"] == "two"
    finally:
        openapi._paths.pop("/_test/doc", None)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client, page):
    """Swagger UI and ReDoc pages reference only same-site assets, and each asset is served."""
    html = client.get(page).get_data(as_text=True)
    assert client.get(page).status_code == 200
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources
    for src in sources:
        response = client.get(src)
        assert response.status_code == 200, src
        assert len(response.data) > 20


def test_asset_route_serves_only_known_files(client):
    """The Swagger asset route is a whitelist, not a window onto the package directory."""
    assert client.get("/docs/assets/index.html").status_code == 404
    assert client.get("/docs/assets/../../__init__.py").status_code == 404
    assert b"SwaggerUIBundle" in client.get("/docs/assets/init.js").data
    assert b"Redoc" in client.get("/redoc/assets/redoc.standalone.js").data[:2000]
