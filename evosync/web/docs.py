"""API docs: GET /openapi.json, Swagger UI at /docs and ReDoc at /redoc, with every asset served locally.

Swagger UI comes from the swagger-ui-bundle package, ReDoc's standalone bundle from flask-openapi3-redoc
(both pinned in requirements.txt); neither page needs the internet.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from .. import openapi

bp = Blueprint("docs", __name__)

SWAGGER_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


def redoc_asset_dir() -> Path:
    """Where the pinned ReDoc package keeps redoc.standalone.js (found without importing its Flask plugin)."""
    spec = importlib.util.find_spec("flask_openapi3_redoc")
    if spec is None or spec.origin is None:
        raise RuntimeError("flask-openapi3-redoc is not installed (see requirements.txt)")
    return Path(spec.origin).parent / "templates" / "redoc" / "js"


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(openapi.build_document(version=current_app.config.get("VERSION", "")))


@bp.get("/docs")
def swagger_ui():
    return render_template("docs/swagger.html")


@bp.get("/docs/assets/<path:name>")
def swagger_asset(name: str):
    if name not in SWAGGER_ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, name, max_age=86400)


@bp.get("/docs/assets/init.js")
def swagger_init():
    # A file, not an inline script, so a strict Content-Security-Policy can allow 'self' only. BaseLayout: no top bar,
    # whose "explore another URL" box has no label (axe: critical) and has no use for one document.
    spec_url = json.dumps(url_for("docs.openapi_json"))
    script = (
        "window.addEventListener('load', function () {\n"
        f"  window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: '#swagger-ui', deepLinking: true,\n"
        "    presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout'});\n"
        "});\n"
    )
    return Response(script, mimetype="application/javascript")


@bp.get("/redoc")
def redoc():
    return render_template("docs/redoc.html")


@bp.get("/redoc/assets/redoc.standalone.js")
def redoc_asset():
    return send_from_directory(redoc_asset_dir(), "redoc.standalone.js", max_age=86400)
