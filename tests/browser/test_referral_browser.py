"""Referral in a real browser (issue 17): a reviewer's categorisation makes a report a mandatory
referral and the queue says "Referral due"; a lead refers it to the IOPC; the bundle they download
opens on the body's machine with the body's key file (`portal referral open`, no portal instance)
and shows the report; the reporter, signed in with the receipt code, reads what the referral means."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from journeys import add_reviewer, assert_unique_ids, shoot, sign_in_reviewer, sign_in_with_code
from playwright.sync_api import expect
from test_accessibility_browser import axe_violations
from triage_support import seed_report

pytestmark = pytest.mark.browser

LEAD_PASSPHRASE = "referral-lead-harbour-copper-7"
WHAT_HAPPENED = "PC Halden kept a victim's number from a call-out and has been messaging her late at night."
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def body_key_file(instance, tmp_path_factory):
    """The IOPC made its key pair on its own machine; the portal has only the public half."""
    from portal.crypto.keyfile import export_private_key
    from portal.crypto.keys import RecipientPrivateKey
    from portal.db import Database
    from portal.referrals.bodies import register_body_key

    private = RecipientPrivateKey.generate()
    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            register_body_key(session, "iopc", private.public_key(), "admin")
    finally:
        db.dispose()
    path = tmp_path_factory.mktemp("iopc") / "iopc.key"
    path.write_text(export_private_key(private))
    return path


def _open_on_the_body_machine(bundle: Path, key_file: Path, out: Path) -> str:
    """`portal referral open` in a fresh process with no PORTAL_* setting and no instance."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PORTAL_")}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", "from portal.cli import main; main()", "referral", "open", str(bundle),
                             "--key", str(key_file), "--out", str(out)], env=env, cwd=bundle.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_a_lead_refers_a_mandatory_referral_and_the_body_opens_it(browsing, triage, reporter, instance, body_key_file,
                                                                  screenshots, tmp_path):
    from portal.db import Database

    secret = add_reviewer(instance, "referlead", "Nia Okafor", LEAD_PASSPHRASE)
    db = Database(instance.database_url)
    try:
        reference, code = seed_report(db, instance.directory, WHAT_HAPPENED)
    finally:
        db.dispose()

    page = browsing.new_page()
    sign_in_reviewer(page, triage.url, "referlead", LEAD_PASSPHRASE, secret)
    page.goto(f"{triage.url}/reports/{reference}")
    page.get_by_label("Category").select_option(label="Abuse of position for a sexual purpose")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Category, risk flags and priority saved.")).to_be_visible()
    expect(page.locator("#referral-due")).to_contain_text("Mandatory referral due by")

    page.goto(f"{triage.url}/?attention=referral-due")
    row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))
    expect(row).to_contain_text("Referral due")
    shoot(page, screenshots, "70-queue-referral-due")

    page.goto(f"{triage.url}/reports/{reference}")
    page.get_by_role("link", name="Refer to a body").click()
    expect(page.get_by_role("heading", name="Refer to another body")).to_be_visible()
    browsing.expect_status(f"/reports/{reference}/refer", 400)
    page.get_by_role("button", name="Make the sealed bundle and refer").click()  # no body chosen
    expect(page.locator(".govuk-error-summary")).to_contain_text("Choose a body from the list.")
    expect(page.locator("#body-anti-corruption-unit + label")).to_contain_text("No registered key")
    page.get_by_label("Independent Office for Police Conduct (IOPC)").check()
    assert_unique_ids(page)
    shoot(page, screenshots, "71-referral-form")
    page.get_by_role("button", name="Make the sealed bundle and refer").click()
    expect(page.get_by_text("Referred. The case bundle is sealed to the body's key")).to_be_visible()
    item = page.locator(".portal-referral").first
    expect(item).to_contain_text("Independent Office for Police Conduct (IOPC)")
    expect(item).to_contain_text("Sent")
    with page.expect_download() as info:
        item.get_by_role("link", name="Download the bundle").click()
    bundle = tmp_path / info.value.suggested_filename
    info.value.save_as(bundle)

    # The body records nothing with the portal: the lead records its acknowledgement.
    item.locator("summary").click()
    item.get_by_label("Date the body acknowledged the referral").fill(dt.date.today().isoformat())
    item.get_by_role("button", name="Record acknowledgement").click()
    expect(page.get_by_text("Recorded: the body acknowledged the referral.")).to_be_visible()
    expect(page.locator(".portal-referral").first).to_contain_text("Acknowledged by the body")
    expect(page.locator(".portal-statusline")).to_contain_text("Referred")
    assert_unique_ids(page)
    shoot(page, screenshots, "72-report-referral-status")

    # On the IOPC's machine: the key file opens the bundle, which shows the report.
    out = tmp_path / "opened"
    printed = _open_on_the_body_machine(bundle, body_key_file, out)
    assert f"report {reference}" in printed
    assert WHAT_HAPPENED in (out / "report.txt").read_text()
    assert json.loads((out / "report.json").read_text())["case"]["category"] == "sexual-abuse-of-position"

    # The reporter signs in with the receipt code and reads what the referral means for them.
    case = browsing.new_page()
    sign_in_with_code(case, reporter.url, code)
    expect(case.locator("#report-status")).to_have_text("Referred to an independent body")
    expect(case.locator("#status-explanation")).to_contain_text("Your anonymity does not change")
    shoot(case, screenshots, "73-reporter-referred")
    browsing.assert_clean()

    # The new page states pass axe (WCAG 2.2 A/AA), in a context that lets the test inject it.
    found = {}
    for signed_in, base, paths in ((page, triage.url, (f"/reports/{reference}/refer", f"/reports/{reference}",
                                                       "/?attention=referral-due", "/")),
                                   (case, reporter.url, ("/follow-up/case",))):
        checker = browsing.new_page(bypass_csp=True)
        checker.context.add_cookies(signed_in.context.cookies())
        for path in paths:
            checker.goto(base + path)
            expect(checker).to_have_url(base + path)  # signed in: the page itself, not the sign-in page
            problems = axe_violations(checker)
            if problems:
                found[path] = problems
    assert not found, found
