"""Junk in a real browser: a lead ticks two reports on the queue and marks them as junk in one go,
finds them under Junk reports, and restores one to the queue."""

from __future__ import annotations

import pyotp
import pytest
from journeys import add_reviewer, assert_unique_ids, shoot
from playwright.sync_api import expect
from triage_support import seed_report

pytestmark = pytest.mark.browser

PASSPHRASE = "junk-lead-harbour-copper-kettle-7"


@pytest.fixture
def junk_lead(instance):
    """A lead created before the reports, so that new reports are wrapped to them."""
    from portal.instance import read_secret

    return add_reviewer(instance, "junklead", "Sam Okonjo", PASSPHRASE,
                        blind_index_key=read_secret(instance.directory, "blind_index_key"))


def send(instance, what: str) -> str:
    """A report stored through the reporter service (the reporter's browser journey has its own tests)."""
    from portal.db import Database

    db = Database(instance.database_url)
    try:
        return seed_report(db, instance.directory, what)[0]
    finally:
        db.dispose()


def test_a_lead_marks_two_reports_as_junk_and_restores_one(browsing, triage, instance, junk_lead, screenshots):
    first = send(instance, "asdf asdf asdf")
    second = send(instance, "qwerty qwerty")
    genuine = send(instance, "My sergeant keeps messaging a victim from a domestic call on her personal phone.")

    page = browsing.new_page()
    page.goto(triage.url + "/login")
    page.get_by_label("Login").fill("junklead")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(junk_lead).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(triage.url + "/")

    def row(reference: str):
        return page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))

    # Tick the two meaningless reports and mark them as junk together.
    page.get_by_label(f"Select report {first}").check()
    page.get_by_label(f"Select report {second}").check()
    page.get_by_label("Why are they junk?").select_option(label="Automated or part of a flood")
    assert_unique_ids(page)
    shoot(page, screenshots, "20-queue-bulk-junk")
    page.get_by_role("button", name="Mark selected as junk").click()
    expect(page).to_have_url(triage.url + "/")
    expect(page.get_by_text("Marked 2 reports as junk")).to_be_visible()
    expect(row(first)).to_have_count(0)
    expect(row(second)).to_have_count(0)
    expect(row(genuine)).to_have_count(1)

    # They are listed under Junk reports, with the day and the reason.
    page.get_by_role("link", name="Junk reports").click()
    expect(page.get_by_role("heading", name="Junk reports")).to_be_visible()
    expect(row(first)).to_contain_text("Automated or part of a flood")
    expect(row(second)).to_have_count(1)
    expect(row(genuine)).to_have_count(0)
    assert_unique_ids(page)
    shoot(page, screenshots, "21-junk-view")

    # Restoring one puts it back in the queue; the other stays junk.
    row(second).get_by_role("button", name=f"Restore report {second}").click()
    expect(page).to_have_url(f"{triage.url}/reports/{second}")
    expect(page.get_by_text("Restored to the queue")).to_be_visible()
    expect(page.get_by_role("heading", name="Mark as junk")).to_be_visible()
    page.get_by_role("link", name="Queue").first.click()
    expect(row(second)).to_have_count(1)
    expect(row(first)).to_have_count(0)
    page.goto(triage.url + "/?view=junk")
    expect(row(first)).to_have_count(1)
    expect(row(second)).to_have_count(0)
    browsing.assert_clean()
