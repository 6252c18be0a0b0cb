"""Languages: English and Welsh, chosen per request without cookies.

The language travels as a `lang` query parameter that `url_for` adds to every link and form
action (a URL default), so a reporter who chose Welsh stays in Welsh without the portal storing
anything about them. English is the default and carries no parameter. Redirects built with
`url_for` carry it too. Catalogs: portal/translations/<lang>/LC_MESSAGES/messages.po, compiled to
.mo by `make i18n-compile` (docs/translation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.support import NullTranslations, Translations
from flask import Flask, g, has_request_context, request
from flask_babel import Babel, get_locale
from flask_babel.speaklater import LazyString

LANGUAGES = ("en", "cy")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def requested_language() -> str:
    """The language this request asked for, or English: only the known codes are accepted."""
    wanted = request.args.get("lang", "") if has_request_context() else ""
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (passed on, then gettext'd)."""
    return message


def _select_locale() -> str:
    return requested_language()


def current_language() -> str:
    locale = get_locale()
    return str(locale.language) if locale else DEFAULT_LANGUAGE


def language_url(language: str) -> str:
    """This page in `language`: the same path and query, with `lang` replaced (none for English).

    After a POST the same address would answer with another page or not at all, so the switch
    then leads to the interface's home page in that language; so does an error page's, which
    thus reads the same whatever address was asked for (a 404 for a report that exists but is
    hidden, and for one that does not exist, must not differ).
    """
    if request.method not in ("GET", "HEAD") or g.get("portal_error_page"):
        path, args = request.script_root + "/", []
    else:
        path, args = request.script_root + request.path, [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    if language != DEFAULT_LANGUAGE:
        args.append(("lang", language))
    return path + ("?" + urlencode(args) if args else "")


def _carry_language(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint == "static" or "lang" in values:
        return
    language = g.get("portal_language")
    if language and language != DEFAULT_LANGUAGE:
        values["lang"] = language


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=_select_locale, default_translation_directories=str(TRANSLATIONS_DIR))

    @app.before_request
    def _remember_language() -> None:
        g.portal_language = requested_language()

    app.url_defaults(_carry_language)

    @app.after_request
    def _content_language(response):
        response.headers.setdefault("Content-Language", current_language())
        return response
    # `is text`: a message, whether a str or a lazy gettext string (form errors, labels).
    app.jinja_env.tests["text"] = lambda value: isinstance(value, str | LazyString)

    @app.context_processor
    def _language_globals() -> dict[str, Any]:
        return {"current_language": current_language(), "language_names": LANGUAGE_NAMES, "languages": LANGUAGES,
                "language_url": language_url}


def with_language(path: str) -> str:
    """A local path (e.g. a sign-in's ?next=) with this request's language added, when it has none."""
    language = g.get("portal_language") if has_request_context() else None
    if not language or language == DEFAULT_LANGUAGE or "lang=" in path:
        return path
    return f"{path}{'&' if '?' in path else '?'}lang={language}"


def translations(language: str) -> NullTranslations:
    """The catalog of `language` for text made outside a request (the digest e-mail)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: one of {', '.join(LANGUAGES)}")
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language])


def parse_languages(setting: str) -> list[str]:
    """A comma-separated list of language codes (e.g. the digest_languages setting), checked."""
    languages = [code.strip() for code in setting.split(",") if code.strip()] or [DEFAULT_LANGUAGE]
    for code in languages:
        translations(code)
    return languages
