"""The OpenAPI 3 document of every JSON endpoint, built as data from a registry that each blueprint fills.

A blueprint module documents its endpoints with one call each, at import time:

    from evosync import openapi
    openapi.register_schema("SyncStatus", {...})                       # reusable, as #/components/schemas/..
    openapi.register_path("/api/sync/status", "get", {"summary": ..., "responses": {...}})

``build_document()`` assembles the registry into the document served at /openapi.json. It is
OpenAPI 3.0 (not 3.1) because the bundled Swagger UI renders 3.0; use ``nullable: true``, not type lists.
"""

from __future__ import annotations

import copy
from typing import Any

OPENAPI_VERSION = "3.0.3"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})

_paths: dict[str, dict[str, dict[str, Any]]] = {}
_schemas: dict[str, dict[str, Any]] = {}
_security_schemes: dict[str, dict[str, Any]] = {}
_tags: dict[str, str] = {}


def register_path(path: str, method: str, operation: dict[str, Any]) -> None:
    """Document ``method`` on ``path`` (an OpenAPI Operation object). Registering again replaces it."""
    method = method.lower()
    if method not in HTTP_METHODS:
        raise ValueError(f"not an HTTP method: {method!r}")
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/': {path!r}")
    if "responses" not in operation:
        raise ValueError(f"{method.upper()} {path}: an operation needs its responses")
    _paths.setdefault(path, {})[method] = copy.deepcopy(operation)


def register_schema(name: str, schema: dict[str, Any]) -> None:
    """A reusable schema, referenced as ``{"$ref": "#/components/schemas/<name>"}``."""
    _schemas[name] = copy.deepcopy(schema)


def register_security_scheme(name: str, scheme: dict[str, Any]) -> None:
    _security_schemes[name] = copy.deepcopy(scheme)


def register_tag(name: str, description: str) -> None:
    _tags[name] = description


def registered_paths() -> dict[str, set[str]]:
    """Which methods of which paths are documented (for tests that check coverage)."""
    return {path: set(methods) for path, methods in _paths.items()}


def build_document(version: str = "", server_url: str | None = None) -> dict[str, Any]:
    """The whole OpenAPI document as plain data (a fresh copy each time)."""
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "EvoSync API",
            "version": version or "0",
            "description": "JSON endpoints of EvoSync: Evotor partner webhooks, connection checks, health. "
            'Errors of the Evotor webhooks are `{"errors": [{"code", "reason"}]}` with Evotor\'s codes.',
        },
        "paths": {path: dict(sorted(ops.items())) for path, ops in sorted(_paths.items())},
        "components": {"schemas": dict(sorted(_schemas.items())), "securitySchemes": dict(_security_schemes)},
        "tags": [{"name": name, "description": text} for name, text in _tags.items()],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return copy.deepcopy(document)


# --------------------------------------------------------------------------------------------- built-ins
# The security schemes everyone shares, and /health (whose module predates this registry).

register_security_scheme(
    "partnerSecret",
    {"type": "http", "scheme": "bearer", "description": "EVOTOR_WEBHOOK_SECRET, sent by Evotor"},
)
register_security_scheme(
    "session",
    {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "A logged-in merchant's session; POSTs also need the X-CSRFToken header",
    },
)
register_tag("Evotor webhooks", "Called by Evotor's cloud (partner 'Integration' settings)")
register_tag("Connections", "A logged-in merchant's connection checks")
register_tag("Service", "Liveness and readiness")

register_path(
    "/health",
    "get",
    {
        "tags": ["Service"],
        "summary": "Is the app, its database and its Redis alive",
        "responses": {
            status: {
                "description": text,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["status", "database", "redis"],
                            "properties": {
                                "status": {"type": "string", "enum": ["ok", "error"]},
                                "database": {"type": "string", "enum": ["ok", "error"]},
                                "redis": {"type": "string", "enum": ["ok", "error"]},
                                "version": {"type": "string"},
                            },
                        }
                    }
                },
            }
            for status, text in (("200", "Everything is up"), ("503", "Something is down"))
        },
    },
)
