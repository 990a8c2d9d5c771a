"""Russian by default, English on request: our pages, Flask-Security, WTForms, Flask-Admin; a complete catalog."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from evosync import create_app
from evosync.i18n import SOURCE_DIR, compile_catalogs, select_locale
from tests.factories import logged_in_client, make_user

ROOT = Path(__file__).resolve().parents[2]
RU_PO = SOURCE_DIR / "ru" / "LC_MESSAGES" / "messages.po"
# The same keywords as `make translations`: _() and gettext are Babel defaults; _l is our lazy_gettext alias.
EXTRACT_KEYWORDS = ["-k", "_l", "-k", "lazy_gettext"]

# (path, a Russian phrase, the English phrase it translates) for a logged-in merchant's main pages.
MERCHANT_PAGES = [
    ("/connections", "Подключения", "Connections"),
    ("/catalog/stores", "Каталог Эвотора", "Evotor catalog"),
    ("/sync", "Синхронизация с VK", "Sync with VK"),
    ("/sync/settings", "Настройки синхронизации", "Sync settings"),
    ("/vk-catalog/albums", "Товары VK", "VK market"),
    ("/profile", "Ваш профиль", "Your profile"),
]


@pytest.fixture
def russian_app(app):
    """The conftest app may default to English (tests assert English msgids); these tests want production's Russian."""
    app.config["BABEL_DEFAULT_LOCALE"] = "ru"
    return app


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_login_and_register_pages_are_russian_without_a_language_header(russian_app):
    """With no Accept-Language at all a visitor gets Russian: our texts and Flask-Security's form labels."""
    client = russian_app.test_client()
    login_page = _text(client.get("/login"))
    assert '<html lang="ru">' in login_page
    assert "Впервые в EvoSync?" in login_page and "Забыли пароль?" in login_page
    assert "Log in" not in login_page
    assert "Запомнить меня" in login_page  # Flask-Security's own "Remember Me" label, from its catalog
    register_page = _text(client.get("/register"))
    assert "Регистрация в EvoSync" in register_page and "Уже есть учётная запись?" in register_page


def test_browser_asking_for_russian_gets_russian_even_when_english_is_the_default(app):
    """Accept-Language decides when there is no cookie or ?lang=; the default applies when no offered language fits."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    client = app.test_client()
    page = _text(client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}))
    assert "Впервые в EvoSync?" in page
    page = _text(client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}))
    assert "New to EvoSync?" in page  # German is not offered: the configured default


def test_wrong_password_message_and_field_errors_are_russian(russian_app):
    """A failed login says so in Russian (our reworded Flask-Security message); WTForms' required-field error too."""
    user = make_user()
    client = russian_app.test_client()
    page = _text(client.post("/login", data={"email": user.email, "password": "not-the-password"}))
    assert "Неверная почта или пароль." in page
    assert "Wrong email or password" not in page
    page = _text(client.post("/register", data={"email": "", "password": "", "password_confirm": ""}))
    assert "Регистрация в EvoSync" in page
    assert "Почтовый адрес не введён" in page and "Пароль не введён" in page  # Flask-Security's own catalog
    assert "Email not provided" not in page
    page = _text(client.post("/register", data={"email": "x@example.com", "password": "a", "password_confirm": "b"}))
    assert "Пароли не совпадают" in page


def test_flask_security_messages_use_its_russian_catalog(russian_app):
    """A Flask-Security message we did not reword comes from its own shipped Russian catalog (ru_RU copied as ru)."""
    from flask_security.utils import get_message

    with russian_app.test_request_context("/login"):
        assert select_locale() == "ru"
        message, _category = get_message("EMAIL_NOT_PROVIDED")
        assert message != "Email not provided" and message
        message, _category = get_message("INVALID_PASSWORD")
        assert message == "Неверная почта или пароль."


def test_wtforms_messages_are_russian(russian_app):
    """WTForms' built-in validator messages come out in Russian through Flask-WTF's translations."""
    from flask_wtf import FlaskForm
    from wtforms import StringField
    from wtforms.validators import DataRequired

    class NameForm(FlaskForm):
        name = StringField(validators=[DataRequired()])

    with russian_app.test_request_context("/", method="POST", data={"name": ""}):
        form = NameForm(meta={"csrf": False})
        assert not form.validate()
        assert form.name.errors == ["Обязательное поле."]


def test_merchant_pages_are_russian_and_switch_to_english(russian_app):
    """Each main page of a logged-in merchant is Russian by default, English with ?lang=en or the lang cookie."""
    user = make_user()
    client = logged_in_client(russian_app, user)
    for path, russian, english in MERCHANT_PAGES:
        response = client.get(path)
        assert response.status_code == 200, path
        assert russian in _text(response), path
        assert english in _text(client.get(path, query_string={"lang": "en"})), path
    client.set_cookie("lang", "en")
    for path, russian, english in MERCHANT_PAGES:
        page = _text(client.get(path))
        assert english in page and russian not in page, path


def test_merchant_saved_language_beats_the_browser(russian_app):
    """Switching the language as a logged-in user saves it on the account, so it follows them without the cookie."""
    user = make_user()
    client = logged_in_client(russian_app, user)
    client.get("/language/en?next=/sync")
    client.delete_cookie("lang")
    page = _text(client.get("/sync", headers={"Accept-Language": "ru"}))
    assert "Sync with VK" in page


def test_language_switch_sets_cookie_and_redirects_only_locally(russian_app):
    """/language/<lang> remembers the choice in a cookie and goes back to a local path, never to another site."""
    client = russian_app.test_client()
    response = client.get("/language/en", query_string={"next": "/login?x=1"})
    assert response.status_code == 302 and response.headers["Location"] == "/login?x=1"
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"
    assert "New to EvoSync?" in _text(client.get("/login"))
    for hostile in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "evil.example"):
        response = client.get("/language/ru", query_string={"next": hostile})
        assert response.headers["Location"] == "/", hostile
    assert client.get_cookie("lang").value == "ru"
    response = client.get("/language/de", query_string={"next": "/login"})
    assert response.headers["Location"] == "/login"
    assert client.get_cookie("lang").value == "ru"  # an unknown language changes nothing


def test_admin_panel_is_russian(russian_app):
    """The admin panel (our templates and Flask-Admin's own strings) speaks Russian too."""
    admin = make_user(roles=("admin",))
    client = logged_in_client(russian_app, admin)
    page = _text(client.get("/admin/users/"))
    assert "Пользователи" in page
    from flask_admin.babel import gettext as admin_gettext

    with russian_app.test_request_context("/admin/"):
        assert admin_gettext("Save") == "Сохранить"


def test_every_extracted_message_has_a_russian_translation(tmp_path):
    """Run the extractor over the sources: every msgid must be in the Russian catalog with a non-empty translation.

    A string newly wrapped in _() fails this until `make translations` is run and the .po is translated.
    """
    pot = tmp_path / "messages.pot"
    CommandLineInterface().run(
        ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), *EXTRACT_KEYWORDS, "-o", str(pot), str(ROOT)]
    )
    with pot.open("rb") as f:
        template = read_po(f)
    with RU_PO.open("rb") as f:
        catalog = read_po(f, locale="ru")
    assert len(template) > 300  # the extractor really found our strings
    problems = []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id)
        if translated is None:
            problems.append(f"missing: {message.id!r}")
        elif translated.fuzzy or not all(
            translated.string if isinstance(translated.string, tuple) else [translated.string]
        ):
            problems.append(f"untranslated or fuzzy: {message.id!r}")
        elif isinstance(message.id, tuple) and len(translated.string) != 3:
            problems.append(f"Russian needs 3 plural forms: {message.id!r}")
    assert problems == [], "run `make translations` and translate:\n" + "\n".join(problems)


def test_translations_keep_their_placeholders():
    """Each Russian string uses exactly the %(name)s placeholders of its msgid, so formatting never breaks."""
    placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]")
    with RU_PO.open("rb") as f:
        catalog = read_po(f, locale="ru")
    assert catalog.num_plurals == 3
    wrong = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = sorted(set(placeholder.findall(ids[-1])))
        for string in strings:
            if string and sorted(set(placeholder.findall(string))) != expected:
                wrong.append(message.id)
    assert wrong == []


def test_catalog_is_compiled_at_start_into_the_instance_folder(tmp_path, _database, redis_url):
    """create_app() compiles the .po into <instance>/translations (here a temp dir): no .mo lives in git."""
    from tests.conftest import _test_overrides

    cache = tmp_path / "instance" / "translations"
    app = create_app({**_test_overrides(_database, redis_url), "TRANSLATIONS_CACHE_DIR": str(cache)})
    mo = cache / "ru" / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file() and mo.stat().st_mtime == RU_PO.stat().st_mtime
    assert (cache / "ru" / "LC_MESSAGES" / "flask_security.mo").is_file()
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == str(cache)
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        from flask_babel import gettext

        assert gettext("Log in") == "Войти"
    tracked = subprocess.run(["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == ""


def test_compile_is_skipped_when_current_and_redone_when_the_po_changes(tmp_path):
    """A second start does no work; an edited .po is compiled again, through a temp file renamed into place."""
    source = tmp_path / "src"
    (source / "ru" / "LC_MESSAGES").mkdir(parents=True)
    po = source / "ru" / "LC_MESSAGES" / "messages.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Hello"\nmsgstr "Привет"\n',
        encoding="utf-8",
    )
    target = tmp_path / "out"
    assert compile_catalogs(source, target) == [target / "ru" / "LC_MESSAGES" / "messages.mo"]
    assert compile_catalogs(source, target) == []
    po.write_text(po.read_text(encoding="utf-8").replace("Привет", "Здравствуйте"), encoding="utf-8")
    os.utime(po, (po.stat().st_mtime + 5, po.stat().st_mtime + 5))
    assert len(compile_catalogs(source, target)) == 1
    assert "Здравствуйте".encode() in (target / "ru" / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert [p.name for p in (target / "ru" / "LC_MESSAGES").iterdir()] == ["messages.mo"]  # no temp files left
    po.unlink()
    compile_catalogs(source, target)
    assert not (target / "ru" / "LC_MESSAGES" / "messages.mo").exists()
