"""Languages: Russian by default, English on request; our catalogs compiled at start-up, libraries' ones wired in."""

from __future__ import annotations

import logging
import os
import tempfile
from importlib.resources import files
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request
from flask_babel import refresh
from flask_login import current_user

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"

# Our catalogs, as maintainers edit them (`make translations`); only .po files live in git.
SOURCE_DIR = Path(__file__).resolve().parent / "translations"
# Flask-Security ships Russian as ru_RU, which a plain "ru" locale never finds: it is copied in under "ru".
SECURITY_CATALOGS = {"ru": "ru_RU"}

log = logging.getLogger(__name__)


def select_locale() -> str:
    """?lang= or the "lang" cookie (the menu switch), then the user's saved choice, then the browser."""
    default = _default_language()
    if not has_request_context():  # jobs and CLI: the default language unless a caller forces a locale
        return default
    chosen = request.args.get("lang") or request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.locale in LANGUAGES:
        return current_user.locale
    return request.accept_languages.best_match(LANGUAGES, default=default) or default


def _default_language() -> str:
    configured = current_app.config.get("BABEL_DEFAULT_LOCALE") if current_app else None
    return configured if configured in LANGUAGES else DEFAULT_LANGUAGE


def init_translations(app: Flask) -> Path:
    """Compile the catalogs into the cache dir and point Flask-Babel and Flask-Security at it.

    Call before ``babel.init_app`` and Flask-Security's init: both read these settings there.
    """
    target = Path(app.config.get("TRANSLATIONS_CACHE_DIR") or Path(app.instance_path) / "translations")
    try:
        compile_catalogs(SOURCE_DIR, target)
    except OSError as exc:  # a read-only instance folder (some containers): fall back to the temp dir
        fallback = Path(tempfile.gettempdir()) / f"evosync-translations-{os.getuid()}"
        log.warning("cannot write compiled translations to %s (%s); using %s", target, exc, fallback)
        target = fallback
        compile_catalogs(SOURCE_DIR, target)
    copy_security_catalogs(target)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)
    # Flask-Security looks in our compiled dir first (its Russian under "ru"), then in its own package.
    app.config.setdefault("SECURITY_I18N_DIRNAME", [str(target), "builtin"])
    # WTForms' own messages ("This field is required.") through Flask-WTF, in the request's language.
    app.config.setdefault("WTF_I18N_ENABLED", True)
    # Flask-Babel keeps the chosen locale in `g`; a request that shares an app context with an earlier one
    # (test clients, a request made inside a job) must choose again rather than inherit that language.
    app.before_request(refresh_locale)
    return target


def refresh_locale() -> None:
    """Forget any locale cached earlier in this app context, so this request's own choice applies."""
    refresh()


def compile_catalogs(source: Path, target: Path) -> list[Path]:
    """Compile every <lang>/LC_MESSAGES/<domain>.po under ``source`` into the same layout under ``target``.

    A catalog is compiled only when its .mo is missing or was made from a different .po (the .mo carries the
    .po's modification time); returns the .mo files written now.
    """
    written = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        if _is_current(mo_path, po_path):
            continue
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=po_path.parts[-3], domain=po_path.stem)
        _write_atomically(mo_path, lambda out, catalog=catalog: write_mo(out, catalog), po_path.stat().st_mtime)
        written.append(mo_path)
    for mo_path in target.glob("*/LC_MESSAGES/*.mo"):
        # A catalog removed from the sources must stop translating: drop its leftover .mo (not the libraries').
        po_path = source / mo_path.relative_to(target).with_suffix(".po")
        if mo_path.stem != "flask_security" and not po_path.exists():
            mo_path.unlink(missing_ok=True)
    if written:
        log.info("compiled %d translation catalog(s) into %s", len(written), target)
    return written


def copy_security_catalogs(target: Path) -> None:
    """Put Flask-Security's shipped .mo files where a plain language code finds them."""
    package_dir = files("flask_security") / "translations"
    for language, shipped in SECURITY_CATALOGS.items():
        source = package_dir / shipped / "LC_MESSAGES" / "flask_security.mo"
        mo_path = target / language / "LC_MESSAGES" / "flask_security.mo"
        if not source.is_file():
            continue
        data = source.read_bytes()
        if mo_path.is_file() and mo_path.read_bytes() == data:
            continue
        _write_atomically(mo_path, lambda out, data=data: out.write(data), None)


def _is_current(mo_path: Path, po_path: Path) -> bool:
    try:
        return mo_path.stat().st_mtime == po_path.stat().st_mtime
    except FileNotFoundError:
        return False


def _write_atomically(path: Path, write, mtime: float | None) -> None:
    """Write through a temp file in the same dir and rename: processes starting together never read half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        if mtime is not None:
            os.utime(temp_name, (mtime, mtime))
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
