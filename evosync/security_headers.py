"""Security headers and cookie flags: a self-only CSP with nonces, no framing, HSTS and secure cookies in production.

Every page the app renders loads its CSS, JS and fonts from this origin (Bootstrap, Swagger UI and ReDoc are
served locally), so the policy allows only 'self' plus a per-request nonce for the few inline <script>/<style>
blocks (Flask-Admin's, read through ``csp_nonce()`` in templates). Two third-party pages cannot live with that
and get a documented, narrower exception (see docs/RELIABILITY.md):

* rq-dashboard (staff only, behind rq.access) ships inline scripts and compiles underscore templates at run time;
* ReDoc's standalone bundle injects its styles and starts a web worker from a blob: URL.

HSTS is sent only in production mode and only on requests that arrived over HTTPS (directly or as told by the
proxy's X-Forwarded-Proto); over plain HTTP on a developer's machine it would pin localhost to HTTPS.
"""

from __future__ import annotations

from flask import Flask, request
from flask_talisman import Talisman

SELF = "'self'"

# The whole app: nothing from elsewhere. img-src allows data: for Bootstrap's inline SVG icons (in its CSS) and
# blob: for previews; connect-src 'self' for the inline fetches (connection test, sync progress).
BASE_POLICY: dict[str, str | list[str]] = {
    "default-src": SELF,
    "script-src": SELF,
    "style-src": SELF,
    "img-src": [SELF, "data:", "blob:"],
    "font-src": [SELF, "data:"],
    "connect-src": SELF,
    "object-src": "'none'",
    "base-uri": SELF,
    "form-action": SELF,
    "frame-ancestors": "'none'",
}

JIVOSITE_HOSTS = ["https://*.jivosite.com", "wss://*.jivosite.com", "https://*.jivo.ru", "wss://*.jivo.ru"]

# Endpoint prefix -> extra sources per directive (added to the base policy for those pages only).
EXCEPTIONS: dict[str, dict[str, list[str]]] = {
    "rq_dashboard.": {"script-src": ["'unsafe-inline'", "'unsafe-eval'"], "style-src": ["'unsafe-inline'"]},
    "docs.redoc": {"style-src": ["'unsafe-inline'"], "worker-src": [SELF, "blob:"]},
}


# Product photos live on VK's and Evotor's image hosts (VK's CDN names change: sun*-*.userapi.com, ...): images
# from any HTTPS host, and in development also plain HTTP (the sandbox serves its photos on 127.0.0.1).
PHOTO_SOURCES = ["https:"]
DEV_PHOTO_SOURCES = ["http:"]


def build_policy(
    extra: dict[str, list[str]] | None = None, jivosite: bool = False, production: bool = True
) -> dict[str, str]:
    """The CSP as Talisman wants it: directive -> space-separated sources."""
    policy: dict[str, list[str]] = {
        key: ([value] if isinstance(value, str) else list(value)) for key, value in BASE_POLICY.items()
    }
    policy["img-src"].extend(PHOTO_SOURCES if production else PHOTO_SOURCES + DEV_PHOTO_SOURCES)
    if jivosite:  # the optional support chat loads its widget and talks to its own servers
        for directive in ("script-src", "connect-src", "img-src", "style-src", "font-src", "frame-src"):
            policy.setdefault(directive, [SELF]).extend(JIVOSITE_HOSTS)
    for directive, sources in (extra or {}).items():
        policy.setdefault(directive, [SELF] if directive != "worker-src" else [])
        policy[directive].extend(s for s in sources if s not in policy[directive])
    return {key: " ".join(values) for key, values in policy.items()}


def init_security_headers(app: Flask) -> Talisman:
    """Wire Talisman into ``app``; call after every blueprint (and the admin) is registered."""
    production = bool(app.config.get("PRODUCTION"))
    jivosite = bool(app.config.get("JIVOSITE_WIDGET_ID"))
    nonce_in = ["script-src", "style-src"]
    talisman = _PerEndpointTalisman()
    talisman.exceptions = {
        prefix: build_policy(extra, jivosite=jivosite, production=production) for prefix, extra in EXCEPTIONS.items()
    }
    talisman.init_app(
        app,
        # TLS ends at the proxy; redirecting here would break /health probes and the sandbox demo.
        force_https=False,
        frame_options="DENY",
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        strict_transport_security_include_subdomains=False,
        content_security_policy=build_policy(jivosite=jivosite, production=production),
        content_security_policy_nonce_in=nonce_in,
        referrer_policy="strict-origin-when-cross-origin",
        # Secure follows BASE_URL's scheme (config.py): over plain http a Secure cookie never comes back.
        session_cookie_secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        permissions_policy={"camera": "()", "microphone": "()", "geolocation": "()"},
    )
    app.config.update(REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax")
    for admin in app.extensions.get("admin", []):  # Flask-Admin marks its inline blocks with this nonce
        admin.csp_nonce_generator = talisman._get_nonce
    return talisman


class _PerEndpointTalisman(Talisman):
    """Talisman whose per-view options come from EXCEPTIONS by endpoint name (some views are bound methods
    of third-party blueprints, which cannot carry Talisman's decorator attribute)."""

    def __init__(self) -> None:
        super().__init__()
        self.exceptions: dict[str, dict[str, str]] = {}

    def _get_local_options(self):
        options = super()._get_local_options()
        endpoint = request.endpoint or ""
        for prefix, policy in self.exceptions.items():
            if endpoint == prefix or (prefix.endswith(".") and endpoint.startswith(prefix)):
                # a nonce would switch 'unsafe-inline' off again in browsers that know nonces
                return {**options, "content_security_policy": policy, "content_security_policy_nonce_in": []}
        return options
