"""The scripts' translations: static/i18n/<lang>.json, made from the same .po as the pages.

`python -m portal.i18n_catalogs` (run by `make i18n-compile`) writes one JSON object per
language, {English message: translation}, holding only the messages found in static/js (their
`t('…')` calls): the scripts load it as a static file (static/js/i18n.js), so no inline script
and no extra route are needed under the CSP. tests/unit/test_translations.py checks that the
committed files match the .po.
"""

from __future__ import annotations

import json

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS_DIR

STATIC_I18N = TRANSLATIONS_DIR.parent.parent / "static" / "i18n"
SCRIPTS = "static/js/"


def read_catalog(language: str) -> Catalog:
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def script_messages(catalog: Catalog) -> dict[str, str]:
    """{msgid: msgstr} of the translated, checked messages the scripts use (no fuzzy or empty one)."""
    out = {}
    for message in catalog:
        if not message.id or message.fuzzy or not any(path.startswith(SCRIPTS) for path, _line in message.locations):
            continue
        if isinstance(message.id, str) and isinstance(message.string, str) and message.string:
            out[message.id] = message.string
    return dict(sorted(out.items()))


def render(messages: dict[str, str]) -> str:
    return json.dumps(messages, ensure_ascii=False, indent=0, sort_keys=True) + "\n"


def main() -> None:
    STATIC_I18N.mkdir(exist_ok=True)
    for language in LANGUAGES:
        if language == DEFAULT_LANGUAGE:
            continue
        (STATIC_I18N / f"{language}.json").write_text(render(script_messages(read_catalog(language))), "utf-8")


if __name__ == "__main__":
    main()
