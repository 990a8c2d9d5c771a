"""App-wide web pieces: the index redirect, the language switch, navigation, and friendly error pages."""

from __future__ import annotations

import logging

import sqlalchemy.exc
from flask import Flask, current_app, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..i18n import LANGUAGES
from ..urls import safe_next

log = logging.getLogger(__name__)

# (endpoint, label): shown when the endpoint exists, in this order.
NAV = [
    ("sync.dashboard", _l("Dashboard")),
    ("connections.index", _l("Connections")),
    ("catalog.stores", _l("Evotor catalog")),
    ("vk_catalog.albums", _l("VK market")),
    ("orders.index", _l("VK orders")),
    ("sync.settings", _l("Sync settings")),
    ("profile.show", _l("Profile")),
]

# The database or Redis unreachable: answered 503 with words that say nothing is lost.
OUTAGE_ERRORS = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    RedisConnectionError,
    RedisTimeoutError,
)

# Paths whose clients are programs, not people: errors answer JSON.
JSON_PREFIXES = ("/api/", "/user/", "/evotor/", "/health", "/openapi.json")


def wants_json() -> bool:
    if request.path.startswith(JSON_PREFIXES):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def init_common(app: Flask) -> None:
    @app.get("/")
    def index():
        if current_user.is_authenticated:
            return redirect(url_for("profile.show"))
        return redirect(url_for("security.login"))

    @app.get("/language/<lang>")
    def language(lang: str):
        response = make_response(redirect(safe_next(request.args.get("next"))))
        if lang in LANGUAGES:
            response.set_cookie("lang", lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
            if current_user.is_authenticated:
                current_user.locale = lang
                db.session.commit()
        return response

    @app.context_processor
    def navigation():
        def nav_items():
            return NAV

        return {"nav_items": nav_items, "get_locale": get_locale}

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if wants_json():
            return jsonify({"errors": [{"code": exc.code, "reason": exc.description}]}), exc.code
        return render_error_page(exc.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        if isinstance(exc, HTTPException):
            return http_error(exc)
        outage = isinstance(exc, OUTAGE_ERRORS)
        if outage:  # the database or Redis is unreachable: a 503 that says nothing is lost, not a crash
            log.error("service unavailable", extra={"path": request.path, "error": type(exc).__name__})
        else:
            log.exception("unhandled error", extra={"path": request.path})
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001 - a dead connection cannot roll back; the pool drops it
            log.warning("rollback failed after an error", extra={"path": request.path})
        code = 503 if outage else 500
        if wants_json():
            reason = "Internal error; it has been logged."
            if outage:
                reason = "Database or queue unreachable; try again later."
            return jsonify({"errors": [{"code": code, "reason": reason}]}), code
        return render_error_page(code)


def render_error_page(code: int):
    """The friendly page; if even the layout cannot render (e.g. the database is down), plain words still do."""
    try:
        return render_template(
            "errors/error.html", code=code, title=_error_title(code), message=_error_message(code)
        ), code
    except Exception:
        log.warning("error page failed to render", exc_info=True)
        try:
            words = f"{_error_title(code)}. {_error_message(code)}"
        except Exception:  # noqa: BLE001 - choosing the language reads the user, from the database that is down
            with force_locale(current_app.config.get("BABEL_DEFAULT_LOCALE") or "en"):
                words = f"{_error_title(code)}. {_error_message(code)}"
        return words, code, {"Content-Type": "text/plain; charset=utf-8"}


def _error_title(code: int | None) -> str:
    return {
        400: _("The request could not be understood"),
        403: _("You do not have access to this page"),
        404: _("Page not found"),
        405: _("This action is not allowed here"),
        413: _("The upload is too large"),
        429: _("Too many requests"),
        500: _("Something went wrong on our side"),
        503: _("The service is temporarily unavailable"),
    }.get(code or 500, _("Something went wrong"))


def _error_message(code: int | None) -> str:
    return {
        400: _(
            "Please go back, reload the page and try again. If you were filling a form, its session may have expired."
        ),
        403: _("If you think you should have access, ask your administrator."),
        404: _("The page does not exist or belongs to another account. Check the address or go to the start page."),
        429: _("Please wait a minute and try again."),
        500: _("We have been notified. Please try again in a few minutes; your data is safe."),
        503: _("Our database or queue is not reachable right now. Please try again in a few minutes; nothing is lost."),
    }.get(code or 500, _("Please try again."))
