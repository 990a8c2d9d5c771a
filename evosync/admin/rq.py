"""rq-dashboard at /admin/rq: the same admin check as the panel (plus rq.access), and CSRF on its buttons."""

from __future__ import annotations

import rq_dashboard
from flask import Flask, abort, request, url_for
from flask_admin.menu import MenuLink
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from .access import RQ_PREFIX, staff_can

# Its JavaScript sends this cookie back as the X-CSRFToken header, which Flask-WTF's global CSRFProtect checks.
RQ_CSRF_COOKIE = "_csrf_token"


def init_rq_dashboard(app: Flask) -> None:
    """Mount the blueprint; access is enforced by the /admin path guard (access.install_path_guard)."""
    app.config.setdefault("RQ_DASHBOARD_REDIS_URL", app.config["REDIS_URL"])
    rq_dashboard.web.setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=RQ_PREFIX)

    @app.before_request
    def no_state_change_by_get():
        # rq-dashboard accepts GET on "requeue all failed jobs": a link or an <img> could trigger it.
        if request.endpoint == "rq_dashboard.requeue_all" and request.method != "POST":
            abort(405)

    @app.after_request
    def hand_csrf_token_to_rq_dashboard(response):
        if request.blueprint == "rq_dashboard" and staff_can("rq.access") and response.mimetype == "text/html":
            response.set_cookie(
                RQ_CSRF_COOKIE,
                generate_csrf(),
                path=RQ_PREFIX,
                samesite="Strict",
                secure=request.is_secure,
            )
        if request.blueprint == "rq_dashboard" and response.mimetype == "text/html" and not response.direct_passthrough:
            add_accessibility_fixes(response)
        return response


def add_accessibility_fixes(response) -> None:
    """rq-dashboard's page with our stylesheet and script for what axe-core finds there (readable greys, a named
    select, a main landmark, focusable scrolling tables), without copying its templates."""
    html = response.get_data(as_text=True)
    css = f'<link rel="stylesheet" href="{url_for("static", filename="css/rq_a11y.css")}">'
    js = f'<script src="{url_for("static", filename="js/rq_a11y.js")}"></script>'
    if "</head>" in html and "</body>" in html:
        response.set_data(html.replace("</head>", css + "</head>", 1).replace("</body>", js + "</body>", 1))


class RqDashboardLink(MenuLink):
    """The admin menu entry for rq-dashboard, shown to those who may open it."""

    def __init__(self) -> None:
        super().__init__(name=_l("Queues (RQ)"), url=RQ_PREFIX + "/")

    def is_accessible(self) -> bool:
        return staff_can("rq.access")
