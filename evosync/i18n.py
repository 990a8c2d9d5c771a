"""Language choice: Russian by default; English when the browser or the menu switch asks for it."""

from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"


def select_locale() -> str:
    if not has_request_context():  # jobs and CLI: Russian unless a caller forces a locale
        return DEFAULT_LANGUAGE
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LANGUAGES:
        return current_user.locale
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE
