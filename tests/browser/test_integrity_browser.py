"""A report a database writer re-encrypted, as a reviewer sees it in a real browser: the altered
page (what failed, no content), GOV.UK-styled, with no duplicate ids."""

from __future__ import annotations

import pyotp
import pytest
from journeys import Report as JourneyReport
from journeys import add_reviewer, assert_unique_ids, fill_form, open_form, send_report, shoot
from playwright.sync_api import expect
from sqlalchemy import select
from triage_support import seed_report

pytestmark = pytest.mark.browser

PASSPHRASE = "integrity-lead-harbour-copper-kettle-3"
ORIGINAL = "The custody sergeant deletes the booking records of one detainee."


def test_a_reviewer_sees_a_reencrypted_report_as_altered(browsing, triage, instance, screenshots):
    from portal.crypto.envelope import new_data_key, seal_record
    from portal.crypto.integrity import key_commitment
    from portal.crypto.keys import RecipientPublicKey, wrap_dek
    from portal.db import Database
    from portal.instance import read_secret
    from portal.reports.answers import ReportAnswers
    from portal.reports.models import KeyWrap, Report
    from portal.triage.models import RecoveryKey, Reviewer

    totp = add_reviewer(instance, "integritylead", "Ade Morgan", PASSPHRASE,
                        blind_index_key=read_secret(instance.directory, "blind_index_key"))
    db = Database(instance.database_url)
    try:
        reference = seed_report(db, instance.directory, ORIGINAL)[0]
        with db.transaction() as session:  # the database writer's attack of issue 19
            report = session.scalars(select(Report).where(Report.reference == reference)).one()
            dek = new_data_key()
            report.sealed_report = seal_record(dek, report.public_id, "report",
                                               ReportAnswers(what_happened="Nothing to report, sorry").to_json())
            report.key_commitment = key_commitment(dek, report.public_id)
            rows = session.execute(select(Reviewer.key_fingerprint, Reviewer.public_key)).all()
            rows += session.execute(select(RecoveryKey.fingerprint, RecoveryKey.public_key)).all()
            keys = {fp: RecipientPublicKey.from_bytes(pk) for fp, pk in rows}
            for wrap in session.scalars(select(KeyWrap).where(KeyWrap.report_id == report.id)):
                wrap.wrap = wrap_dek(dek, keys[wrap.recipient_fingerprint], report.public_id)
    finally:
        db.dispose()

    page = browsing.new_page()
    page.goto(triage.url + "/login")
    page.get_by_label("Login").fill("integritylead")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(totp).now())
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{triage.url}/reports/{reference}")
    expect(page.get_by_role("heading", name="This report was altered after it was received")).to_be_visible()
    expect(page.locator("#altered-checks li")).to_contain_text(["signature does not match"])
    assert "Nothing to report, sorry" not in page.content() and ORIGINAL not in page.content()
    assert_unique_ids(page)
    shoot(page, screenshots, "60-report-altered")


def test_the_reporters_browser_refuses_a_key_that_is_not_the_committed_one(browsing, reporter, instance, screenshots):
    """JavaScript follow-up: case.js checks the key it unwrapped against the report's commitment and
    shows "could not be opened" instead of content when a database writer changed it."""
    from portal.crypto.envelope import new_data_key
    from portal.crypto.integrity import key_commitment
    from portal.db import Database
    from portal.reports.models import Report

    page = browsing.new_page()
    open_form(page, reporter.url)
    report = JourneyReport()
    fill_form(page, report, attach=False)
    code = send_report(page)
    db = Database(instance.database_url)
    try:
        with db.transaction() as session:  # the newest report is this one
            stored = session.scalars(select(Report).order_by(Report.id.desc()).limit(1)).one()
            stored.key_commitment = key_commitment(new_data_key(), stored.public_id)
    finally:
        db.dispose()
    page.goto(reporter.url + "/follow-up")
    page.get_by_label("Your receipt code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#case-altered")).to_be_visible()
    assert report.what_happened not in page.content()
    shoot(page, screenshots, "61-reporter-case-altered")
