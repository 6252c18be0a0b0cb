"""Every page, with and without JavaScript: a strict Content-Security-Policy on every response,
no console error, no CSP violation, no uncaught script error. (The journeys in the other
files assert the same on every page they visit.)"""

from __future__ import annotations

import pytest
from journeys import assert_unique_ids
from playwright.sync_api import expect

from portal.web import CSP_REPORTER, CSP_TRIAGE

pytestmark = pytest.mark.browser


def _visit(page, url: str, status: int, csp: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)
    assert response.header_value("content-security-policy") == csp, url
    expect(page.locator("main h1")).to_be_visible()
    assert_unique_ids(page)


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_reporter_pages_are_clean(browsing, reporter, javascript):
    assert "'unsafe-inline'" not in CSP_REPORTER and "'unsafe-eval'" not in CSP_REPORTER  # 'wasm-unsafe-eval' only
    page = browsing.new_page(javascript=javascript)
    browsing.expect_status("/no-such-page", 404)
    browsing.expect_status("/follow-up", 400)
    for path in ("/", "/report", "/follow-up", "/signed-out", "/follow-up/case"):
        _visit(page, reporter.url + path, 200, CSP_REPORTER)
    _visit(page, reporter.url + "/no-such-page", 404, CSP_REPORTER)

    # A wrong code: an error on the page, still under the same policy.
    page.goto(reporter.url + "/follow-up")
    page.get_by_label("Your receipt code").fill("able able able able able able able able")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-message")).to_contain_text("We could not find a report with that code")
    if javascript:
        # The report form's scripts loaded as modules and ran: the page is ready to encrypt.
        page.goto(reporter.url + "/report")
        expect(page.get_by_role("button", name="Add another person")).to_be_visible()
        page.get_by_role("button", name="Add another person").click()
        expect(page.locator("#people-1-name")).to_be_focused()
        expect(page.locator("#people-1-name")).to_have_value("")
        expect(page.get_by_text("Person 2", exact=True)).to_be_visible()
        assert_unique_ids(page)  # the new person's fields were renumbered
    browsing.assert_clean()


def test_triage_pages_are_clean(browsing, triage):
    assert "unsafe" not in CSP_TRIAGE
    page = browsing.new_page()
    browsing.expect_status("/login", 400)
    _visit(page, triage.url + "/login", 200, CSP_TRIAGE)
    page.get_by_label("Login").fill("nobody")
    page.get_by_label("Passphrase").fill("not the passphrase at all")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Sign-in failed")
    browsing.assert_clean()
