"""Welsh on both interfaces: ?lang=cy renders Welsh with lang="cy", every link, form and redirect
keeps the language, the switch and its hreflang alternates are on every page, dates follow the
locale, and anything but a known language code falls back to English (no cookie is ever set)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from babel.dates import format_date
from support import csrf_from
from triage_support import enter_code, fresh_code, seed_report

HREF = re.compile(r'(?:href|action|src)="([^"]*)"')


def internal_urls(html: str) -> list[str]:
    """Links, form actions and image sources to the app's own pages (not static files, not fragments)."""
    return [u.replace("&amp;", "&") for u in HREF.findall(html)
            if u.startswith("/") and not u.startswith("/static/") and not u.startswith("#")]


def language_of(url: str) -> str | None:
    return (parse_qs(urlsplit(url).query).get("lang") or [None])[0]


def assert_welsh_page(html: str) -> None:
    assert '<html lang="cy"' in html
    assert "Neidio i’r prif gynnwys" in html and "Skip to main content" not in html
    # The switch: English offered as a link in English, Welsh marked as the current language.
    assert re.search(r'<a class="portal-header__link" href="[^"]*" hreflang="en" lang="en">English</a>', html)
    assert re.search(r'<link rel="alternate" hreflang="cy" href="[^"]*lang=cy', html)
    assert re.search(r'<link rel="alternate" hreflang="en" href="[^"?]*(\?(?![^"]*lang=)[^"]*)?"', html)


def test_triage_sign_in_is_welsh_and_keeps_welsh_through_every_redirect(triage_app, lead):
    client = triage_app.test_client()
    page = client.get("/login?lang=cy")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert_welsh_page(html)
    assert "<h1 class=\"govuk-heading-xl\">Mewngofnodi</h1>" in html and "Cyfrinymadrodd" in html
    assert "Set-Cookie" not in page.headers or "lang" not in page.headers.get("Set-Cookie", "")

    # A refused passphrase: the error summary and message in Welsh.
    refused = client.post("/login?lang=cy", data={"csrf_token": csrf_from(page.data), "login": lead.login, "passphrase": "wrong"})
    assert "Mae problem" in refused.get_data(as_text=True) and "Methodd y mewngofnodi" in refused.get_data(as_text=True)

    page = client.get("/login?lang=cy")
    step = client.post("/login?lang=cy", data={"csrf_token": csrf_from(page.data), "login": lead.login, "passphrase": lead.passphrase})
    assert step.status_code == 302 and language_of(step.headers["Location"]) == "cy"
    code_page = client.get(step.headers["Location"])
    assert "Rhowch eich cod" in code_page.get_data(as_text=True)
    done = client.post(step.headers["Location"], data={"csrf_token": csrf_from(code_page.data), "code": fresh_code(lead)})
    assert done.status_code == 302 and language_of(done.headers["Location"]) == "cy"

    queue = client.get(done.headers["Location"]).get_data(as_text=True)
    assert_welsh_page(queue)
    assert "Hidlo adroddiadau" in queue and "Allgofnodi" in queue and "Filter reports" not in queue
    urls = internal_urls(queue)
    assert urls, "the queue links somewhere"
    english_switch = [u for u in urls if language_of(u) is None]
    assert set(english_switch) == {"/"}, f"only the switch to English (and its alternate) drops the language: {english_switch}"


def test_triage_report_page_in_welsh_with_welsh_dates(triage_app, database, instance_dir, lead):
    reference, _ = seed_report(database, instance_dir, "A concern in Welsh")
    client = triage_app.test_client()
    client.post("/login", data={"csrf_token": csrf_from(client.get("/login").data), "login": lead.login, "passphrase": lead.passphrase})
    enter_code(client, fresh_code(lead))
    html = client.get(f"/reports/{reference}?lang=cy").get_data(as_text=True)
    assert_welsh_page(html)
    today = dt.datetime.now(dt.UTC).date()
    assert f"Daeth i law {format_date(today, 'd MMMM y', locale='cy')}" in html  # e.g. "6 Rhagfyr 2026"
    assert format_date(today, "d MMMM y", locale="en") not in html
    assert "Beth ddywedodd yr adroddwr wrthym" in html and "Cydnabod" in html
    for url in internal_urls(html):
        if urlsplit(url).path != f"/reports/{reference}" or language_of(url) is not None:
            assert language_of(url) == "cy", url


def test_reporter_pages_carry_welsh(reporter_client):
    start = reporter_client.get("/?lang=cy")
    html = start.get_data(as_text=True)
    assert start.status_code == 200
    assert_welsh_page(html)
    for url in internal_urls(html):
        assert language_of(url) == "cy" or urlsplit(url).path == "/", url
    missing = reporter_client.get("/no-such-page?lang=cy")
    assert missing.status_code == 404
    assert "Heb ddod o hyd i’r dudalen" in missing.get_data(as_text=True)
    assert "Set-Cookie" not in start.headers
    assert start.headers["Content-Language"] == "cy"
    assert reporter_client.get("/").headers["Content-Language"] == "en"


@pytest.mark.parametrize("value", ["fr", "CY", "cy-GB", "../cy", "cy ", "en", ""])
def test_anything_but_a_known_language_is_english(reporter_client, value):
    response = reporter_client.get("/", query_string={"lang": value})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="en"' in html and "Skip to main content" in html
    assert not [u for u in internal_urls(html) if language_of(u) not in (None, "cy")]
    assert {u for u in internal_urls(html) if language_of(u) == "cy"} == {"/?lang=cy"}  # only the switch and its alternate


def test_the_digest_speaks_the_configured_languages(database, settings_overrides, lead):
    from portal.config import load_settings
    from portal.i18n import parse_languages
    from portal.triage.oversight import digest_subject, digests

    settings = load_settings({**settings_overrides, "digest_languages": "cy,en"})
    with database.transaction() as session:
        [item] = digests(session, settings)
    text = item.message(parse_languages(settings.digest_languages))
    assert text.index("Porth adrodd cyfrinachol: crynodeb ar gyfer") < text.index("Confidential reporting portal: summary for")
    assert "Adroddiadau hwyr: 0" in text and "Overdue reports: 0" in text
    assert digest_subject(["cy", "en"]) == "Porth adrodd cyfrinachol: eich crynodeb / Confidential reporting portal: your summary"
    with pytest.raises(ValueError, match="unknown language"):
        parse_languages("cy,fr")


def test_an_error_page_reads_the_same_whatever_was_asked_for(reporter_client):
    """The switch of an error page leads home: two missing pages (say, a hidden report and one that
    does not exist) must not differ by an echo of the address asked for."""
    first = reporter_client.get("/no-such-page?lang=cy").get_data(as_text=True)
    second = reporter_client.get("/another/missing/page?lang=cy").get_data(as_text=True)
    assert first == second
    assert '<a class="portal-header__link" href="/" hreflang="en" lang="en">English</a>' in first
