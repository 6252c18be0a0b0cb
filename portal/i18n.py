"""Languages: English and Welsh, chosen per request without cookies.

The language travels as a `lang` query parameter that `url_for` adds to every link and form
action (a URL default), so a reporter who chose Welsh stays in Welsh without the portal storing
anything about them. English is the default and carries no parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, request
from flask_babel import Babel, get_locale

LANGUAGES = ("en", "cy")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def requested_language() -> str:
    """The language this request asked for, or English: only the two known codes are accepted."""
    wanted = request.args.get("lang", "") if request else ""
    return wanted if wanted in LANGUAGES else DEFAULT_LANGUAGE


def _select_locale() -> str:
    return requested_language()


def current_language() -> str:
    locale = get_locale()
    return str(locale.language) if locale else DEFAULT_LANGUAGE


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

    @app.context_processor
    def _language_globals() -> dict[str, Any]:
        return {"current_language": current_language(), "language_names": LANGUAGE_NAMES}
