"""Screening in a real browser (issue 12): reports sent with and without JavaScript appear in a
lead's queue once the screening worker (running beside the triage server, as portal-screen.service
does) has screened them, never in the queue of a reviewer who declared a conflict with the person
named; a report that cannot be screened is shown to the lead under Quarantine."""

from __future__ import annotations

import os
import re

import pytest
from journeys import Report, add_reviewer, assert_unique_ids, fill_form, open_form, send_report, shoot, sign_in_reviewer
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSPHRASE = "screening-lead-lantern-granite-4"


def sign_in(page, triage, login: str, totp: str) -> None:
    sign_in_reviewer(page, triage.url, login, PASSPHRASE, totp)


def send_junk(instance) -> str:
    """What a script posting the JavaScript fields without a subject list leaves: stored through the service."""
    from portal.db import Database
    from portal.deadlines import Deadlines
    from portal.reports.browser_intake import BrowserSubmission, submit_from_browser
    from portal.reports.recipients import intake_recipients

    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            report_id = os.urandom(16)
            inners = {r.fingerprint: os.urandom(80) for r in intake_recipients(session)}
            sub = BrowserSubmission(report_id=report_id, token=os.urandom(32), sealed_report=b"\x01\x01" + os.urandom(60),
                                    reporter_wrap=b"\x01\x15\x01\x02" + os.urandom(108), key_commitment=os.urandom(32),
                                    recipient_inners=inners, subjects_inner=None,
                                    attachments=[], urgent=False)
            return submit_from_browser(session, _keys(instance), sub, Deadlines(acknowledge_days=7, feedback_days=90)).reference
    finally:
        db.dispose()


def _keys(instance):
    from triage_support import reporter_keys

    return reporter_keys(instance.directory)


def queue_shows(page, triage, reference: str, timeout: float = 10.0) -> None:
    """Reload the queue until the report is listed (screening takes about a second)."""
    deadline = timeout * 1000
    step = 250
    waited = 0
    while waited <= deadline:
        page.goto(triage.url + "/")
        if page.get_by_role("link", name=reference, exact=True).count():
            return
        page.wait_for_timeout(step)
        waited += step
    raise AssertionError(f"{reference} did not reach the queue within {timeout} s")


def test_reports_reach_the_queue_after_screening_and_junk_is_quarantined(browsing, reporter, triage, instance, screenshots):
    from portal.instance import read_secret

    index_key = read_secret(instance.directory, "blind_index_key")
    lead_totp = add_reviewer(instance, "screenlead", "Morgan Achebe", PASSPHRASE, blind_index_key=index_key)
    conflicted_totp = add_reviewer(instance, "conflicted", "Dana Whitfield", PASSPHRASE, blind_index_key=index_key)

    # The second lead declares a conflict with the officer the reports will name.
    officer = Report()
    dana = browsing.new_page()
    sign_in(dana, triage, "conflicted", conflicted_totp)
    dana.goto(triage.url + "/account")
    dana.get_by_label("Full name").fill(officer.name)
    dana.get_by_role("button", name="Declare", exact=True).click()
    expect(dana.locator("body")).to_contain_text(officer.name)

    # Two reporters name that officer: one with JavaScript (sealed in the browser), one without.
    sent = []
    for javascript in (True, False):
        page = browsing.new_page(javascript=javascript)
        open_form(page, reporter.url)
        fill_form(page, Report(tag=officer.tag) if javascript else officer, attach=False)
        send_report(page)
        sent.append(page)
    junk = send_junk(instance)
    new = instance.references()[-3:]
    genuine = [ref for ref in new if ref != junk]
    assert len(genuine) == 2

    lead = browsing.new_page()
    sign_in(lead, triage, "screenlead", lead_totp)
    for reference in genuine:
        queue_shows(lead, triage, reference)
    expect(lead.get_by_role("link", name=junk, exact=True)).to_have_count(0)
    shoot(lead, screenshots, "60-queue-after-screening")

    # The conflicted lead never sees them: not listed, not at their address.
    dana.goto(triage.url + "/")
    for reference in genuine:
        browsing.expect_status(f"/reports/{reference}", 404)
        expect(dana.get_by_role("link", name=reference, exact=True)).to_have_count(0)
        response = dana.goto(f"{triage.url}/reports/{reference}")
        assert response.status == 404

    # The junk report is in quarantine, explained, with what a lead can do.
    lead.goto(triage.url + "/")
    lead.get_by_role("link", name=re.compile(r"^Quarantine")).click()
    expect(lead).to_have_url(triage.url + "/quarantine")
    row = lead.locator(f"tr[data-reference='{junk}']")
    expect(row).to_contain_text("No list of people")
    expect(row).to_contain_text("not sent by the portal’s own report form")
    expect(lead.get_by_role("heading", name="What you can do")).to_be_visible()
    assert_unique_ids(lead)
    shoot(lead, screenshots, "61-quarantine")
    row.get_by_role("button", name=re.compile("Screen again")).click()
    expect(lead.locator(".govuk-notification-banner--success")).to_contain_text("sent back to screening")
    browsing.assert_clean()
