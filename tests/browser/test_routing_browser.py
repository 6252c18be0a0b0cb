"""Reporter's choice "send this only to the independent body" in a real browser (issue 17): with
JavaScript the browser wraps the report's key to the body and the recovery key only; without it
the server does. Either way the leads see only that it was routed away, and cannot open it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from journeys import (
    Report,
    add_reviewer,
    assert_unique_ids,
    fill_form,
    multipart_parts,
    open_form,
    send_report,
    shoot,
    sign_in_reviewer,
    sign_in_with_code,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSPHRASE = "routing-lead-harbour-quartz-7"
SHOTS = Path("/tmp/shots_g")


def register_body_key(instance):
    from portal.crypto.keys import RecipientPrivateKey
    from portal.db import Database
    from portal.referrals.bodies import body_key
    from portal.referrals.bodies import register_body_key as register

    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            if body_key(session, "iopc") is None:
                register(session, "iopc", RecipientPrivateKey.generate().public_key(), "browser-test")
            return body_key(session, "iopc").fingerprint
    finally:
        db.dispose()


def wraps_of(instance, reference: str) -> tuple[str | None, set[str], set[str]]:
    """(routed_to, key wrap fingerprints, reviewer fingerprints) straight from the database."""
    from sqlalchemy import select

    from portal.db import Database
    from portal.reports.models import KeyWrap, Report
    from portal.triage.models import Reviewer

    db = Database(instance.database_url)
    try:
        report = db.session.scalar(select(Report).where(Report.reference == reference))
        wraps = set(db.session.scalars(select(KeyWrap.recipient_fingerprint).where(KeyWrap.report_id == report.id)))
        return report.routed_to, wraps, set(db.session.scalars(select(Reviewer.key_fingerprint)))
    finally:
        db.dispose()


def subject_list(instance, reference: str):
    """The report's subject list as screening reads it (the triage host's screening key)."""
    from sqlalchemy import select

    from portal.crypto.screening import open_subjects, screening_private_key
    from portal.db import Database
    from portal.instance import read_secret
    from portal.reports.answers import parse_subject_document
    from portal.reports.models import Report

    db = Database(instance.database_url)
    try:
        report = db.session.scalar(select(Report).where(Report.reference == reference))
        private = screening_private_key(read_secret(instance.directory, "screening_key"))
        return parse_subject_document(open_subjects(report.sealed_subjects, private, report.public_id))
    finally:
        db.dispose()


def wait_routed(instance, reference: str, page) -> tuple[set[str], set[str]]:
    for _ in range(60):
        routed_to, wraps, reviewers = wraps_of(instance, reference)
        if routed_to:
            return wraps, reviewers
        page.wait_for_timeout(250)
    raise AssertionError(f"{reference} was not routed")


def test_the_reporter_sends_only_to_the_independent_body_with_and_without_javascript(browsing, reporter, triage, instance, screenshots):
    SHOTS.mkdir(exist_ok=True)
    body_fingerprint = register_body_key(instance)
    lead_totp = add_reviewer(instance, "routinglead", "Rowan Castell", PASSPHRASE)
    keys = browsing.new_page().request.get(reporter.url + "/keys.json").json()
    reviewer_fingerprints = {r["fingerprint"] for r in keys["recipients"] if r["kind"] == "reviewer"}
    assert reviewer_fingerprints

    references, codes = [], []
    sent = []
    for javascript in (True, False):
        page = browsing.new_page(javascript=javascript)
        open_form(page, reporter.url)
        choice = page.locator("#independent-choice")
        expect(choice).to_contain_text("Independent Office for Police Conduct")
        expect(choice).to_contain_text("cannot read it")
        expect(choice).to_contain_text("receipt code")
        fill_form(page, Report(), attach=False)
        page.get_by_label(re.compile("Send this only to")).check()
        if javascript:
            assert_unique_ids(page)
            shoot(page, screenshots, "70-independent-choice")
            shutil.copy(screenshots / "70-independent-choice.png", SHOTS / "form-independent-choice.png")
            page.on("request", lambda request: sent.append(request) if request.method == "POST" and request.url.endswith("/report") else None)
        before = set(instance.references())
        codes.append(send_report(page))
        (reference,) = set(instance.references()) - before
        references.append(reference)
        if javascript:
            # The browser sealed the key to the body and the recovery key only: no reviewer's wrap left the page.
            parts = multipart_parts(sent[-1].post_data_buffer)
            inner = {name.removeprefix("recipient_inner.") for name, _f, _v in parts if name.startswith("recipient_inner.")}
            assert body_fingerprint in inner and not inner & reviewer_fingerprints
            assert ("only_independent", None, b"yes") in parts
            assert not any(b"Whathappened" in value for _n, _f, value in parts)

    # The browser's subject list carries the choice, and each person's rank: a senior rank typed
    # with JavaScript, without the choice, is routed by screening too.
    assert subject_list(instance, references[0]).only_independent is True
    page = browsing.new_page()
    open_form(page, reporter.url)
    fill_form(page, Report(), attach=False)
    page.fill("#people-0-role", "Deputy Chief Constable")
    before = set(instance.references())
    send_report(page)
    (senior,) = set(instance.references()) - before
    parsed = subject_list(instance, senior)
    assert parsed.only_independent is False and parsed.people[0].role == "Deputy Chief Constable"
    references.append(senior)

    lead = browsing.new_page()
    sign_in_reviewer(lead, triage.url, "routinglead", PASSPHRASE, lead_totp)
    for reference in references:
        wraps, reviewers = wait_routed(instance, reference, lead)
        assert body_fingerprint in wraps and not wraps & reviewers
    lead.goto(triage.url + "/")
    lead.get_by_role("link", name="Routed away").click()
    expect(lead).to_have_url(triage.url + "/routed")
    for reference in references:
        row = lead.locator(f"tr[data-reference='{reference}']")
        expect(row).to_contain_text("Independent Office for Police Conduct")
        expect(lead.get_by_role("link", name=reference, exact=True)).to_have_count(0)
    expect(lead.locator("main")).not_to_contain_text("Personname")
    assert_unique_ids(lead)
    shoot(lead, screenshots, "71-routed-away")
    shutil.copy(screenshots / "71-routed-away.png", SHOTS / "leads-routed-away.png")
    for reference in references:
        browsing.expect_status(f"/reports/{reference}", 404)
        assert lead.goto(f"{triage.url}/reports/{reference}").status == 404
    # The lead downloads the sealed bundle for delivery.
    lead.goto(triage.url + "/routed")
    with lead.expect_download() as download:
        lead.locator(f"tr[data-reference='{references[0]}']").get_by_role("button", name=re.compile("Download sealed bundle")).click()
    assert download.value.suggested_filename == f"{references[0]}-iopc.bundle"

    # The reporter (with JavaScript) still follows it up: the page says where it went, and a reply is taken.
    page = browsing.new_page()
    sign_in_with_code(page, reporter.url, codes[0])
    expect(page.locator("#routed-notice")).to_contain_text("Independent Office for Police Conduct")
    expect(page.locator("#report-status")).to_be_visible()
    expect(page.locator("#message-hint")).to_contain_text("Only the Independent Office for Police Conduct (IOPC) can read it")
    page.get_by_label("Your message").fill("One more thing for the IOPC.")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your message has been encrypted and sent to the Independent Office for Police Conduct (IOPC).")).to_be_visible()
    expect(page.locator(".portal-message--reporter").last).to_contain_text("One more thing for the IOPC.")
    shoot(page, screenshots, "72-reporter-routed-case")
    shutil.copy(screenshots / "72-reporter-routed-case.png", SHOTS / "reporter-routed-case.png")
    browsing.assert_clean()
