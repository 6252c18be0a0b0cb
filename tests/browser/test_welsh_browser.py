"""Journeys in Welsh, in Chromium (the reporter from the start page to the receipt to follow-up, the triage interface): the language chosen once stays through every link, form and
redirect; pages, scripts' messages and dates are Welsh; the switch returns to the same page in
English. Screenshots go to tests/browser/screenshots/welsh-*.png."""

from __future__ import annotations

import datetime as dt
import re
import time

import pyotp
import pytest
from babel.dates import format_date
from journeys import Report, _used_codes, add_reviewer, assert_unique_ids, fill_form, report_about, shoot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _fresh_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    while totp.now() == _used_codes.get(secret):
        time.sleep(0.5)
    _used_codes[secret] = totp.now()
    return _used_codes[secret]


def _assert_welsh(page) -> None:
    assert page.evaluate("document.documentElement.lang") == "cy"
    expect(page.locator("a[hreflang='en']")).to_have_text("English")
    assert "lang=cy" in page.url
    assert_unique_ids(page)


def test_triage_in_welsh(browsing, reporter, triage, instance, screenshots):
    from portal.instance import read_secret

    # A lead of its own (parallel tests sign the shared lead in with the same 30-second codes), in the
    # intake pool before the report is sent, so that the report is wrapped to them.
    login, passphrase = "welshlead", "welsh-lead-harbour-copper-lantern-9"
    secret = add_reviewer(instance, login, "Arweinydd Cymraeg", passphrase, receives_new_reports=True,
                          blind_index_key=read_secret(instance.directory, "blind_index_key"))
    before = set(instance.references())
    report_about(browsing, reporter, "A concern for the Welsh journey", "Welsh Journey", "WJ4242")
    (reference,) = set(instance.references()) - before
    page = browsing.new_page()
    browsing.expect_status("/login", 400)
    page.goto(triage.url + "/login?lang=cy")
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Mewngofnodi")
    shoot(page, screenshots, "welsh-triage-login")

    # A wrong passphrase: the error summary in Welsh, linked to nothing but still at the top.
    page.get_by_label("Enw mewngofnodi").fill(login)
    page.get_by_label("Cyfrinymadrodd").fill("not the passphrase")
    page.get_by_role("button", name="Parhau").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Mae problem")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Methodd y mewngofnodi")
    assert page.title().startswith("Gwall:")

    page.get_by_label("Enw mewngofnodi").fill(login)
    page.get_by_label("Cyfrinymadrodd").fill(passphrase)
    page.get_by_role("button", name="Parhau").click()
    _assert_welsh(page)
    page.get_by_label("Cod 6 digid").fill(_fresh_code(secret))
    page.get_by_role("button", name="Mewngofnodi").click()
    expect(page).to_have_url(triage.url + "/?lang=cy")
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Adroddiadau")
    expect(page.get_by_role("navigation", name="Dewislen")).to_contain_text("Allgofnodi")
    shoot(page, screenshots, "welsh-triage-queue")

    # The report, in Welsh, with the date in Welsh.
    page.get_by_role("link", name=reference).click()
    _assert_welsh(page)
    today = dt.datetime.now(dt.UTC).date()
    expect(page.locator(".govuk-caption-l")).to_contain_text(f"Daeth i law {format_date(today, 'd MMMM y', locale='cy')}")
    expect(page.get_by_role("heading", name="Beth ddywedodd yr adroddwr wrthym")).to_be_visible()
    page.get_by_role("button", name="Cydnabod ei fod wedi dod i law").click()
    _assert_welsh(page)
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Wedi’i gydnabod. Mae’r neges gydnabod wedi’i hanfon at yr adroddwr.")
    expect(page.locator("#history")).to_be_visible()
    expect(page.locator(".portal-history")).to_contain_text("wedi’i gydnabod")
    shoot(page, screenshots, "welsh-triage-report")

    # The switch: the same report, in English, without the parameter.
    reference_url = page.url.split("?")[0]
    page.get_by_role("link", name="English").click()
    expect(page).to_have_url(reference_url)
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.get_by_role("heading", name="What the reporter told us")).to_be_visible()
    expect(page.get_by_role("link", name="Cymraeg", exact=True)).to_have_attribute("hreflang", "cy")
    browsing.assert_clean()


def test_scripts_speak_welsh(browsing, reporter):
    """The scripts' messages come from static/i18n/cy.json, loaded under the CSP."""
    page = browsing.new_page()
    page.goto(reporter.url + "/follow-up?lang=cy")
    _assert_welsh(page)
    page.locator("form button[type=submit]").first.click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Mae problem")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Rhowch eich cod derbynneb")
    assert page.title().startswith("Gwall: ")
    browsing.assert_clean()


def test_reporter_journey_in_welsh(browsing, reporter, instance, screenshots):
    """From the start page to the receipt to follow-up, all in Welsh, with JavaScript: the language
    chosen once is kept by every link, form and redirect, the scripts speak Welsh, and the reply
    reaches the reviewers."""
    report = Report()
    page = browsing.new_page()
    browsing.expect_status("/report", 400)
    page.goto(reporter.url + "/?lang=cy")
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Rhoi gwybod am bryder am gydweithiwr, yn gyfrinachol")
    expect(page.get_by_role("complementary", name="Cadwch yn ddiogel")).to_be_visible()
    shoot(page, screenshots, "welsh-reporter-start")

    page.get_by_role("button", name="Dechrau adroddiad").click()
    expect(page).to_have_url(reporter.url + "/report?lang=cy")
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Dywedwch wrthym beth ddigwyddodd")
    expect(page.locator("body")).to_have_class(re.compile(r"\bjs-enabled\b"))

    # Nothing typed: the script's error summary and message, in Welsh, linked to the field.
    page.locator("#send-report").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Mae problem")
    expect(page.locator("#what_happened-error")).to_contain_text("Dywedwch wrthym beth ddigwyddodd. Mae ychydig frawddegau’n ddigon i ddechrau.")
    assert page.title().startswith("Gwall: ")
    shoot(page, screenshots, "welsh-reporter-form-errors")

    fill_form(page, report)
    expect(page.locator("#category-sexual-abuse-of-position + label")).to_have_text("Camddefnyddio swydd at ddiben rhywiol")
    page.locator("#send-report").click()
    expect(page.locator("#receipt-heading")).to_have_text("Mae eich adroddiad wedi’i anfon", timeout=30_000)
    code = page.locator("[data-receipt-code]").inner_text().strip()
    assert re.fullmatch(r"[a-z]+( [a-z]+){7}", code), code
    expect(page.get_by_role("heading", name="Ydych chi wedi ysgrifennu eich cod?")).to_be_visible()
    expect(page.get_by_role("button", name="Copïo’r cod")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "cy"
    shoot(page, screenshots, "welsh-reporter-receipt")

    page.get_by_role("link", name="Ydw, rwyf wedi’i ysgrifennu").click()
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Daeth eich adroddiad i law")
    page.get_by_role("link", name="Dilyn adroddiad i fyny").first.click()
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Dilyn adroddiad i fyny")
    shoot(page, screenshots, "welsh-reporter-sign-in")
    page.locator("#receipt_code").fill(code)
    page.locator("main form button[type=submit]").first.click()
    expect(page).to_have_url(reporter.url + "/follow-up/case?lang=cy")
    _assert_welsh(page)
    expect(page.get_by_role("heading", name="Eich adroddiad", exact=True)).to_be_visible()
    expect(page.locator("#case-opened")).to_be_visible(timeout=30_000)
    expect(page.locator("#report-status")).to_have_text("Wedi dod i law")
    today = dt.datetime.now(dt.UTC).date()
    expect(page.locator("#case")).to_contain_text(format_date(today, "d MMMM y", locale="cy"))
    answers = page.locator("#report-answers")
    expect(answers).to_contain_text("Beth ddigwyddodd")
    expect(answers).to_contain_text(report.what_happened)
    expect(answers).to_contain_text("Camddefnyddio swydd at ddiben rhywiol")
    shoot(page, screenshots, "welsh-reporter-case")

    page.locator("#message").fill("Neges ddilynol gan yr adroddwr")
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Mae eich neges wedi’i hamgryptio a’i hanfon at yr adolygwyr.", timeout=30_000)
    _assert_welsh(page)
    expect(page.locator("#conversation-list")).to_contain_text("Neges ddilynol gan yr adroddwr", timeout=30_000)
    expect(page.locator("#conversation-list")).to_contain_text(f"Chi · {format_date(today, 'd MMMM y', locale='cy')}")
    shoot(page, screenshots, "welsh-reporter-reply-sent")

    page.get_by_role("button", name="Allgofnodi").click()
    _assert_welsh(page)
    expect(page.locator("h1")).to_have_text("Rydych wedi allgofnodi")
    browsing.assert_clean()
