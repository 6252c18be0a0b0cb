"""Accessibility as a test: axe-core with the WCAG 2.2 A and AA rules on every page state of both
interfaces, JavaScript on, in every language the portal offers: 0 violations.

axe-core is vendored for the tests only (assets/build.sh -> tests/browser/vendor/axe.min.js, the
version pinned in assets/package.json) and injected into pages of a context that bypasses the CSP:
the portal's pages never load it, and every other browser test keeps the strict policy.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from journeys import Report, add_reviewer, fill_form, open_form, send_report, set_stage, sign_in_reviewer
from journeys import in_language as with_language
from playwright.sync_api import expect

from portal.i18n import LANGUAGES as PORTAL_LANGUAGES

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# Best-practice rules run as well: "region" (all content in landmarks) was one of issue 15's findings.
EXTRA_RULES = {"region": {"enabled": True}}
# Every page state is checked in every language the portal speaks.
LANGUAGES = list(PORTAL_LANGUAGES)
# What the checks below expect to read, in each language.
TELL_US = {"en": "Tell us what happened", "cy": "Dywedwch wrthym beth ddigwyddodd"}
PASSPHRASE = "axe-lead-harbour-copper-lantern-7"


def axe_violations(page) -> list[str]:
    """The WCAG 2.2 A/AA violations on the page as it is now, one line per rule and node."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("([tags, rules]) => axe.run(document, {runOnly: {type: 'tag', values: tags}, rules, "
                           "resultTypes: ['violations']})", [WCAG_TAGS, EXTRA_RULES])
    return [f"{v['id']} ({v['impact']}): {v['help']} at {json.dumps(node['target'])}: {node['failureSummary']}"
            for v in result["violations"] for node in v["nodes"]]


class Audit:
    """Runs axe on each named page state and collects every violation, to report them all at once."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.found: dict[str, list[str]] = {}
        self.states: list[str] = []

    def check(self, page, state: str) -> None:
        self.states.append(state)
        problems = axe_violations(page)
        if problems:
            self.found[f"{state} [{self.language}] {page.url}"] = problems

    def assert_clean(self, expected_states: int) -> None:
        assert len(self.states) == expected_states, self.states
        assert not self.found, "\n".join(f"{state}:\n  " + "\n  ".join(p) for state, p in self.found.items())


def test_axe_is_vendored_and_pinned():
    package = json.loads((Path(__file__).resolve().parents[2] / "assets" / "package.json").read_text())
    version = package["devDependencies"]["axe-core"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "axe-core must be pinned to one exact version"
    assert f"axe v{version}" in AXE.read_text()[:300], "tests/browser/vendor/axe.min.js is not the pinned version: run assets/build.sh"


def assert_linked_error(page, field_id: str, error_class: str, message: str) -> None:
    """GOV.UK style, for an error added by JavaScript as for one from the server: the message has an
    id the field names in aria-describedby, the field and its group carry the error classes, and the
    summary is the first thing in the page's main column (issue 15)."""
    field = page.locator(f"#{field_id}")
    expect(page.locator(f"#{field_id}-error")).to_contain_text(message)
    expect(field).to_have_attribute("aria-describedby", re.compile(rf"(^|\s){re.escape(field_id)}-error(\s|$)"))
    expect(field).to_have_class(re.compile(rf"\b{error_class}\b"))
    expect(page.locator(f".govuk-form-group--error:has(#{field_id})")).to_have_count(1)
    first = page.evaluate("() => document.querySelector('main .govuk-grid-column-two-thirds').firstElementChild.className")
    assert "govuk-error-summary" in first, first
    expect(page.locator(".govuk-error-summary")).to_be_focused()


CASE_STATES = [
    ("received", {"stage": "new", "escalation_route": None, "outcome": None}),
    ("assessing", {"stage": "assessing"}),
    ("referred", {"stage": "escalated", "escalation_route": "professional-standards"}),
    ("closed, action taken", {"stage": "closed", "outcome": "action-taken"}),
    ("closed, referred elsewhere", {"stage": "closed", "outcome": "referred-elsewhere"}),
    ("closed, no further action", {"stage": "closed", "outcome": "no-further-action"}),
]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_reporter_page_state_passes_axe(browsing, reporter, instance, language):
    audit = Audit(language)
    page = browsing.new_page(bypass_csp=True)
    browsing.expect_status("/report", 400)
    browsing.expect_status("/follow-up", 400)
    browsing.expect_status("/follow-up/reply", 401)
    browsing.expect_status("/no-such-page", 404)
    url = lambda path: with_language(reporter.url + path, language)  # noqa: E731

    page.goto(url("/"))
    audit.check(page, "start page")
    page.goto(url("/report"))
    expect(page.locator("body")).to_have_class(re.compile(r"\bjs-enabled\b"))
    audit.check(page, "report form, empty")
    page.locator("#add-person").click()
    audit.check(page, "report form, a second person added")

    page.locator("#send-report").click()  # nothing typed: the browser's checks
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_linked_error(page, "what_happened", "govuk-textarea--error", TELL_US[language])
    audit.check(page, "report form, errors shown by JavaScript")

    page.goto(url("/report"))
    page.locator("#people-0-name").fill("Someone")
    page.evaluate("() => document.getElementById('report-form').submit()")  # past the script: the server's checks
    expect(page.locator(".govuk-error-summary")).to_contain_text(TELL_US[language])
    audit.check(page, "report form, errors from the server")

    open_form(page, reporter.url, language)
    fill_form(page, Report())
    before = set(instance.references())
    code = send_report(page, language)
    (reference,) = set(instance.references()) - before
    audit.check(page, "receipt")
    page.goto(url("/report/sent"))
    audit.check(page, "report received (after a reload)")

    page.goto(url("/follow-up"))
    audit.check(page, "sign-in")
    page.locator("#receipt_code").fill("able able able able able able able able")
    page.locator("#receipt_code").press("Enter")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    audit.check(page, "sign-in, wrong code")

    page.locator("#receipt_code").fill(code)
    page.locator("#receipt_code").press("Enter")
    expect(page).to_have_url(re.compile(re.escape(reporter.url) + r"/follow-up/case"))
    for state, values in CASE_STATES:
        set_stage(instance, reference, **values)
        page.goto(url("/follow-up/case"))
        expect(page.locator("#case-opened")).to_be_visible(timeout=30_000)
        audit.check(page, f"case, {state}")

    page.locator("#message").fill("Written as the session ended")
    page.context.clear_cookies()
    page.evaluate("() => document.getElementById('reply-form').submit()")
    expect(page.locator("#kept-message")).to_have_value("Written as the session ended")
    audit.check(page, "session ended, message kept")

    page.goto(url("/no-such-page"))
    audit.check(page, "error page (404)")
    page.goto(url("/signed-out"))
    audit.check(page, "signed out")
    audit.assert_clean(expected_states=18)
    browsing.assert_clean()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_triage_page_state_passes_axe(browsing, reporter, triage, instance, language):
    from portal.instance import read_secret

    audit = Audit(language)
    login = f"axelead{language}"
    secret = add_reviewer(instance, login, f"Axe Lead {language.upper()}", PASSPHRASE,
                          blind_index_key=read_secret(instance.directory, "blind_index_key"))
    # A report sent after the lead joined the pool, so that it is wrapped to them.
    reporter_page = browsing.new_page()
    open_form(reporter_page, reporter.url)
    fill_form(reporter_page, Report(category="misuse-of-systems"))
    before = set(instance.references())
    send_report(reporter_page)
    (reference,) = set(instance.references()) - before
    from triage_support import screen_now

    from portal.db import Database

    db = Database(instance.database_url)
    try:
        screen_now(db, instance.directory)
    finally:
        db.dispose()

    page = browsing.new_page(bypass_csp=True)
    browsing.expect_status("/login", 400)
    browsing.expect_status("/no-such-page", 404)
    url = lambda path: with_language(triage.url + path, language)  # noqa: E731
    page.goto(url("/login"))
    audit.check(page, "sign-in")
    page.locator("#login").fill("nobody")
    page.locator("#passphrase").fill("not the passphrase at all")
    page.locator("#passphrase").press("Enter")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    audit.check(page, "sign-in, failed")
    page.locator("#login").fill(login)
    page.locator("#passphrase").fill(PASSPHRASE)
    page.locator("#passphrase").press("Enter")
    expect(page.locator("#code")).to_be_visible()
    audit.check(page, "authenticator code (enrolment)")
    sign_in_reviewer(page, triage.url, login, PASSPHRASE, secret, language)

    page.goto(url("/"))
    audit.check(page, "queue")
    stages = [
        ("new", {"stage": "new"}),
        ("assessing", {"stage": "assessing"}),
        ("escalated", {"stage": "escalated", "escalation_route": "anti-corruption"}),
        ("closure awaiting approval", {"stage": "closure-pending", "outcome": "no-further-action",
                                       "closure_basis": None, "closure_proposer_id": 10_000}),
        ("closed", {"stage": "closed", "outcome": "action-taken"}),
    ]
    for state, values in stages:
        set_stage(instance, reference, **values)
        page.goto(url(f"/reports/{reference}"))
        expect(page.locator("h1")).to_contain_text(reference)
        audit.check(page, f"report, {state}")
    for path, state in (("/themes", "themes"), ("/account", "account"), ("/admin/reviewers", "reviewers"),
                        ("/quarantine", "quarantine"), ("/?attention=approval", "queue, awaiting approval"),
                        ("/no-such-page", "error page (404)")):
        page.goto(url(path))
        audit.check(page, state)
    audit.assert_clean(expected_states=15)
    browsing.assert_clean()
