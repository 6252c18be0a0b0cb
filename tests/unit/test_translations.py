"""The Welsh catalog is complete and current, and no text a person reads escapes gettext.

- every message of the Welsh catalog is translated, none is fuzzy, and each keeps the English
  placeholders (a lost %(name)s would raise, a lost <strong> would change the meaning);
- the catalog holds exactly the messages the code has now (extracted afresh, as `make
  i18n-extract` does, into a temporary .pot): a new English string makes this fail until it is
  extracted and translated;
- the compiled .mo and the scripts' static/i18n/<lang>.json say what the .po says;
- every taxonomy category and risk flag has its Welsh label;
- templates: no text, and no title/alt/aria-label/placeholder, with letters outside {{ _() }} /
  {% trans %}, and no literal English string inside an expression either;
- scripts: no message built from a bare string instead of t('…').
"""

from __future__ import annotations

import io
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from portal.i18n import DEFAULT_LANGUAGE, LANGUAGES, TRANSLATIONS_DIR
from portal.i18n_catalogs import STATIC_I18N, render, script_messages

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if language != DEFAULT_LANGUAGE]
# What the Makefile's `i18n-extract` looks for (Babel's defaults, of which these are the ones used, and its --keywords).
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "N_": None, "_l": None,
            "lazy_gettext": None, "lazy_ngettext": (1, 2), "t": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%%|</?(?:strong|a)\b[^>]*>")


def catalog(language: str):
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def messages(language: str):
    return [m for m in catalog(language) if m.id]


def code_msgids() -> set[str]:
    """What `make i18n-extract` would write (babel.cfg's mapping, the Makefile's keywords)."""
    method_map = [("portal/**.py", "python"), ("templates/**.html", "jinja2"), ("static/js/**.js", "javascript")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, keywords=KEYWORDS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_babel_cfg_is_what_the_test_extracts_with():
    text = (ROOT / "babel.cfg").read_text()
    assert re.findall(r"^\[(\w+): ([^\]]+)\]", text, re.M) == [("python", "portal/**.py"), ("jinja2", "templates/**.html"),
                                                               ("javascript", "static/js/**.js")]
    makefile = (ROOT / "Makefile").read_text()
    for keyword in ("_l", "lazy_gettext", "lazy_ngettext:1,2", "t", "N_"):
        assert f"--keywords {keyword} " in makefile


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(language):
    untranslated, fuzzy = [], []
    for message in messages(language):
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            untranslated.append(message.id)
        if message.fuzzy:
            fuzzy.append(message.id)
    assert not untranslated, f"{len(untranslated)} untranslated, e.g. {untranslated[:5]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy (English changed: check the translation, then drop the flag), e.g. {fuzzy[:5]}"
    assert catalog(language).plural_forms.startswith("nplurals=6;")  # Welsh: zero, one, two, few, many, other


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_the_placeholders_and_markup(language):
    for message in messages(language):
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = sorted(PLACEHOLDER.findall(english[-1]))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, (message.id, text)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalog_holds_exactly_the_messages_of_the_code(language):
    in_code = code_msgids()
    in_catalog = {m.id[0] if isinstance(m.id, tuple) else m.id for m in messages(language)}
    assert not in_code - in_catalog, f"not extracted yet (make i18n-update): {sorted(in_code - in_catalog)[:10]}"
    assert not in_catalog - in_code, f"no longer in the code (make i18n-update): {sorted(in_catalog - in_code)[:10]}"
    template = read_po((TRANSLATIONS_DIR / "messages.pot").open("rb"))
    assert {m.id[0] if isinstance(m.id, tuple) else m.id for m in template if m.id} == in_code, "messages.pot is stale"


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_matches_the_po(language):
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as mo:
        compiled = {(m.context, _key(m.id)): _key(m.string) for m in read_mo(mo) if m.id}
    source = {(m.context, _key(m.id)): _key(m.string) for m in messages(language)}
    assert compiled == source, "run make i18n-compile"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_scripts_catalog_matches_the_po(language):
    expected = script_messages(catalog(language))
    assert expected, "the scripts have messages"
    assert (STATIC_I18N / f"{language}.json").read_text("utf-8") == render(expected), "run make i18n-compile"
    in_scripts = {m.id for m in catalog(language) if any(p.startswith("static/js/") for p, _ in m.locations)}
    assert set(json.loads(render(expected))) == in_scripts


def test_taxonomy_labels_in_every_language():
    data = tomllib.loads((ROOT / "config" / "taxonomy.toml").read_text("utf-8"))
    for entry in data["category"] + data["risk_flag"] + data.get("referral_criterion", []):
        for language in TRANSLATED:
            assert entry.get(f"label_{language}", "").strip(), f"{entry['key']} has no label_{language}"


# -- templates: no text outside gettext ---------------------------------------------------------

TEMPLATES = ROOT / "templates"
READ_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")  # and the value of a button-like <input>
GETTEXT_CALLS = {"_", "gettext", "ngettext", "pgettext"}
CONTEXT_CALLS = {"pgettext"}  # their first string is the context, the second the message
ALLOWED_TEXT = {"English", "Cymraeg",  # the languages' own names, never translated
                "same-origin", "no-referrer"}  # the referrer_policy block: a <meta> value, not text
LETTERS = re.compile(r"[^\W\d_]{2,}")


def english_literal(value: str) -> bool:
    """A string literal that reads as English words rather than a key, class or format."""
    if re.fullmatch(r"[dMLyEHhms]+(?:[ :.,/-]+[dMLyEHhms]+)*", value):  # a date format for the locale (format_date)
        return False
    return bool(LETTERS.search(value)) and (" " in value.strip() or bool(re.fullmatch(r"[A-Z][a-z]+[.:!?]?", value)))


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        shown = READ_ATTRIBUTES
        if tag == "input" and dict(attrs).get("type") in ("submit", "button", "reset"):
            shown += ("value",)
        self.found += [value for name, value in attrs if name in shown and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.found.append(data)


def untranslated_text(source: str) -> list[str]:
    """Text with letters outside gettext in a template's markup, and English literals in its expressions."""
    env = Environment(extensions=["jinja2.ext.i18n"])  # noqa: S701 - lexing only, nothing is rendered
    tokens = [(token.type, token.value) for token in env.lexer.tokenize(source)]
    markup, problems = [], []
    in_trans = False
    translated_args = 0  # string arguments still to come for the gettext call being read
    for i, (kind, value) in enumerate(tokens):
        if kind == "name" and i and tokens[i - 1][0] == "block_begin":
            in_trans = value in ("trans", "pluralize") or (in_trans and value != "endtrans")
        if kind == "data":
            markup.append("\x00" if in_trans else value)
            continue
        markup.append("\x00")
        if kind == "name" and value in GETTEXT_CALLS and i + 1 < len(tokens) and tokens[i + 1][0] == "lparen":
            translated_args = 2 if value in ("ngettext", *CONTEXT_CALLS) else 1
        elif kind == "string":
            if translated_args:
                translated_args -= 1
            elif english_literal(value):
                problems.append(f"literal {value!r}")
        elif kind == "rparen":
            translated_args = 0
    collector = _TextCollector()
    collector.feed("".join(markup))
    for text in collector.found:
        for piece in text.split("\x00"):
            piece = " ".join(piece.split())
            if LETTERS.search(piece) and piece not in ALLOWED_TEXT:
                problems.append(piece)
    return problems


def checked_templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


@pytest.mark.parametrize("template", checked_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_text_outside_gettext(template):
    assert untranslated_text(template.read_text("utf-8")) == []


def test_templates_format_dates_for_the_locale():
    """strftime gives English month names: dates go through Flask-Babel's dateformat/datetimeformat."""
    assert [str(p.relative_to(TEMPLATES)) for p in checked_templates() if ".strftime(" in p.read_text("utf-8")] == []


def test_the_template_check_finds_what_it_must():
    assert untranslated_text('<p class="govuk-body">Hello there</p>') == ["Hello there"]
    assert untranslated_text('<img alt="A chart" src="x">') == ["A chart"]
    assert untranslated_text("{{ 'Yes' if ok else 'No' }}") == ["literal 'Yes'", "literal 'No'"]
    assert untranslated_text('{{ f.input(x, hint="Your full name") }}') == ["literal 'Your full name'"]
    assert untranslated_text('<p>{{ _("Hello %(n)s", n=x) }} · {% trans %}<b>Bold</b> text{% endtrans %}</p>') == []
    assert untranslated_text("{{ ngettext('%(num)d day', '%(num)d days', n) }}{{ x.strftime('%Y') }}") == []
    assert untranslated_text('{{ pgettext("receives new reports", "Yes") }}') == []
    assert untranslated_text('<a class="govuk-link" href="{{ url_for(\'a.b\', view=\'junk\') }}">{{ _("Junk") }}</a>') == []


# -- scripts: no message outside t() -----------------------------------------------------------

SCRIPT_MESSAGE = re.compile(
    r"(?:textContent\s*=|message:|showError\(|showStatus\(|progress\(|say\([^,]+,[^,]+,)\s*(['\"`])(?P<text>[^'\"`]*[A-Za-z]{2,}[^'\"`]*)\1")


@pytest.mark.parametrize("script", sorted((ROOT / "static" / "js").glob("*.js")), ids=lambda p: p.name)
def test_no_script_message_outside_t(script):
    source = re.sub(r"^\s*//.*$", "", script.read_text("utf-8"), flags=re.M)
    assert bare_messages(source) == []
    # Babel's extractor does not read inside a template literal: t() there would never be translated.
    assert not re.search(r"\$\{[^}]*\bt\(", source), "call t() outside `${…}` (it would not be extracted)"


def bare_messages(source: str) -> list[str]:
    """Messages given as a literal with words in it (a template literal's ${…} parts do not count)."""
    found = []
    for match in SCRIPT_MESSAGE.finditer(source):
        if LETTERS.search(re.sub(r"\$\{[^}]*\}", "", match.group("text"))):
            found.append(match.group("text"))
    return found


def test_the_script_check_finds_what_it_must():
    assert bare_messages("title.textContent = 'There is a problem';") == ["There is a problem"]
    assert bare_messages("errors.push({ field: 'x', message: `Too long: ${n}` });") == ["Too long: ${n}"]
    assert bare_messages("title.textContent = t('There is a problem');") == []
    assert bare_messages("progress(`${label} ${Math.floor(done / total)}%`);") == []


def test_mo_files_are_packaged():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "translations/*/LC_MESSAGES/*.mo" in pyproject["tool"]["setuptools"]["package-data"]["portal"]


def test_read_po_round_trip_is_stable():
    """The committed .po is in the form the tools write: `make i18n-update` would not reformat it."""
    from babel.messages.pofile import write_po

    for language in TRANSLATED:
        path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
        out = io.BytesIO()
        write_po(out, catalog(language), width=120)
        assert out.getvalue().decode() == path.read_text("utf-8")
