"""Triage in a real browser: a report made in the reporter's browser is read, categorised and
answered by a reviewer who signed in with passphrase and TOTP; the reporter reads the answer."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from journeys import Report, assert_unique_ids, fill_form, open_form, send_report, shoot, sign_in_with_code
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_reviewer_reads_categorises_and_answers_a_browser_encrypted_report(browsing, reporter, triage, instance, screenshots):
    # The reporter sends a report, encrypted in their browser.
    reporter_page = browsing.new_page()
    open_form(reporter_page, reporter.url)
    report = Report(category="misuse-of-systems")
    before = set(instance.references())
    fill_form(reporter_page, report)
    code = send_report(reporter_page)
    (reference,) = set(instance.references()) - before

    # The reviewer signs in: passphrase, then the authenticator app they enrol on first sign-in.
    page = browsing.new_page()
    page.goto(triage.url + "/")
    expect(page).to_have_url(re.compile(re.escape(triage.url) + r"/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shoot(page, screenshots, "07-triage-sign-in")
    page.get_by_label("Login").fill(instance.lead.login)
    page.get_by_label("Passphrase").fill(instance.lead.passphrase)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(re.escape(triage.url) + r"/login/code(\?.*)?$"))
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    # Wait for the image itself (on a loaded machine it can still be loading when the page is visible).
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle(), timeout=15_000)
    page.get_by_text("I cannot scan the code").click()
    expect(page.locator(".portal-secret")).to_have_text(instance.lead.totp_secret)
    shoot(page, screenshots, "08-totp-enrolment")
    page.get_by_label("6-digit code").fill(pyotp.TOTP(instance.lead.totp_secret).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(triage.url + "/")

    # The queue lists the new report, flagged because the reporter said someone is at risk now.
    expect(page.get_by_role("heading", name="Reports")).to_be_visible()
    row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Reporter: someone at risk now")
    expect(row).to_contain_text("Unassigned")
    shoot(page, screenshots, "09-queue")
    row.get_by_role("link", name=reference, exact=True).click()
    expect(page).to_have_url(f"{triage.url}/reports/{reference}")

    # The report is decrypted in the reviewer's session.
    expect(page.get_by_role("heading", name=f"Report {reference}")).to_be_visible()
    expect(page.get_by_text("encrypted in the reporter's browser")).to_be_visible()
    told = page.locator("dl.govuk-summary-list").first
    for value in (report.what_happened, report.name, report.role, report.identifier, report.unit, report.when,
                  report.where, report.witnesses, "Misuse of police systems"):
        expect(told).to_contain_text(value)
    stem, extension = report.file_name.rsplit(".", 1)  # shown apart: the extension is never trusted for the type
    files = page.locator("#evidence ~ ul.portal-files")
    expect(files.locator(".portal-file__name")).to_contain_text(stem)
    expect(files.locator(".portal-file__ext")).to_have_text(extension)
    assert_unique_ids(page)  # many forms on one page: every label must reach its own field

    # Categorise: category, a risk flag and priority.
    categorise = page.locator(f"form[action='/reports/{reference}/categorise']")
    categorise.get_by_label("Category").select_option("dishonesty-corruption")
    categorise.locator("#flag-on-duty").check()
    categorise.get_by_label("Priority").select_option("high")
    categorise.get_by_role("button", name="Save").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Category, risk flags and priority saved.")
    expect(page.locator(".portal-statusline")).to_contain_text("High priority")
    expect(categorise.get_by_label("Category")).to_have_value("dishonesty-corruption")
    expect(categorise.locator("#flag-on-duty")).to_be_checked()

    # Message the reporter through the anonymous channel.
    question = f"Reviewerquestion{report.tag}: can you tell us which shift this was?"
    page.get_by_label("Message to the reporter").fill(question)
    page.get_by_role("button", name="Send to reporter").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Message encrypted and sent.")
    expect(page.locator(".portal-message--reviewer").last).to_contain_text(question)

    # An internal note, found by its own label (the note and message boxes once shared an id).
    note = f"Internalnote{report.tag}: check duty rosters."
    page.get_by_label("Internal note").fill(note)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Internal note added.")
    expect(page.locator(".portal-note")).to_contain_text(note)
    expect(page.locator(".portal-message--reviewer")).not_to_contain_text(note)
    shoot(page, screenshots, "10-report-view")

    # The queue now shows what the reviewer decided.
    page.get_by_role("link", name="Queue").click()
    row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))
    expect(row).to_contain_text("Dishonesty or corruption")
    expect(row).to_contain_text("High")

    # The other reviewer pages load cleanly too.
    for link, path in (("Lead Reviewer", "/account"), ("Themes", "/themes"), ("Reviewers", "/admin/reviewers")):
        page.locator("header").get_by_role("link", name=link).click()
        expect(page).to_have_url(triage.url + path)
        expect(page.locator("main h1")).to_be_visible()
        assert_unique_ids(page)

    # Sign out: the session is gone, and the report is behind sign-in again.
    with page.expect_response(lambda r: r.url == triage.url + "/logout") as signed_out:
        page.locator("header").get_by_role("button", name="Sign out").click()
    assert '"cookies"' in (signed_out.value.header_value("clear-site-data") or "")
    assert not [c for c in page.context.cookies() if c["name"] == "portal_reviewer"]
    expect(page).to_have_url(re.compile(re.escape(triage.url) + r"/login\?signed_out=1"))
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(f"{triage.url}/reports/{reference}")
    expect(page).to_have_url(re.compile(re.escape(triage.url) + r"/login"))

    # The reporter, with only their code, reads the reviewer's question.
    sign_in_with_code(reporter_page, reporter.url, code)
    expect(reporter_page.locator(".portal-message--reviewer")).to_contain_text(question)
    expect(reporter_page.locator(".portal-message--reviewer").first).to_contain_text("Reviewer")
    browsing.assert_clean()


def test_queue_pages_forward_and_back(browsing, triage, instance, screenshots, monkeypatch):
    """Keyset pages in the browser (with pages of 2, so a handful of reports make several pages)."""
    from triage_support import seed_report

    from portal.db import Database
    from portal.triage import listing

    db = Database(instance.database_url)
    try:
        made = [seed_report(db, instance.directory, f"Pagedreport {n}")[0] for n in range(5)]
    finally:
        db.dispose()
    monkeypatch.setattr(listing, "PAGE_SIZE", 2)
    page = browsing.new_page()
    page.goto(triage.url + "/login")
    page.get_by_label("Login").fill(instance.lead.login)
    page.get_by_label("Passphrase").fill(instance.lead.passphrase)
    page.get_by_role("button", name="Continue").click()
    # The next step's code (accepted for clock drift): this step's may have been used by another test.
    page.get_by_label("6-digit code").fill(pyotp.TOTP(instance.lead.totp_secret).at(time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(triage.url + "/")

    def shown() -> list[str]:
        return [link.inner_text() for link in page.locator("tr.portal-queue__row a.portal-ref").all()]

    assert shown() == made[::-1][:2]  # the newest first
    expect(page.locator("#queue-count")).to_contain_text("showing 1 to 2")
    pages = page.get_by_role("navigation", name="Pages")
    pages.get_by_role("link", name="Next page").click()
    assert shown() == made[::-1][2:4]
    expect(page.locator("#queue-count")).to_contain_text("showing 3 to 4")
    shoot(page, screenshots, "16-queue-pages")
    pages.get_by_role("link", name="Previous page").click()
    assert shown() == made[::-1][:2]
    pages.get_by_role("link", name="Last page").click()
    expect(page.get_by_role("navigation", name="Pages").get_by_role("link", name="Next page")).to_have_count(0)
    browsing.assert_clean()
