"""Three reporters, one officer: in a real browser the reviewer sees the three reports linked,
across spelling variants of the name and a collar number, and told why they are flagged."""

from __future__ import annotations

import re

import pyotp
import pytest
from journeys import add_reviewer, report_about, shoot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSPHRASE = "linking-reviewer-orbit-lantern-42"


@pytest.fixture
def analyst(instance):
    """A second lead, created before the reports so that new reports are wrapped to them."""
    from portal.instance import read_secret

    return add_reviewer(instance, "analyst", "Pat Analyst", PASSPHRASE,
                        blind_index_key=read_secret(instance.directory, "blind_index_key"))


def test_three_reporters_one_officer_are_linked(browsing, reporter, triage, instance, analyst, screenshots):
    before = set(instance.references())
    report_about(browsing, reporter, "Linkfirst: he asked a victim for her number.", "PC Daniel O'Brien", "CO 4471")
    first = (set(instance.references()) - before).pop()
    report_about(browsing, reporter, "Linksecond: messages to a woman from a call.", "dan obrien", "")
    second = (set(instance.references()) - before - {first}).pop()
    report_about(browsing, reporter, "Linkthird: misuse of the PNC for a partner.", "", "co-4471")
    third = (set(instance.references()) - before - {first, second}).pop()

    page = browsing.new_page()
    page.goto(triage.url + "/login")
    page.get_by_label("Login").fill("analyst")
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(analyst).now())
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(triage.url + "/")

    def linked(reference: str) -> str:
        row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))
        return row.locator("td").last.inner_text().strip()

    # "O'Brien" / "obrien" with Daniel / Dan link 1 and 2; the collar number links 1 and 3.
    assert (linked(first), linked(second), linked(third)) == ("2", "1", "1")
    shoot(page, screenshots, "11-queue-linked")

    page.get_by_role("link", name=first, exact=True).click()
    expect(page.locator(".portal-linked-warning")).to_contain_text("2 other reports name the same person")
    warning = page.locator("#same-links")
    expect(warning.get_by_role("link", name=second, exact=True)).to_be_visible()
    expect(warning.get_by_role("link", name=third, exact=True)).to_be_visible()
    expect(page.locator(".portal-rules")).to_contain_text("Other reports name the same person")
    expect(page.locator(".portal-subjects")).to_contain_text("PC Daniel O'Brien")
    shoot(page, screenshots, "12-report-linked")
    warning.get_by_role("link", name=third, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(f"{triage.url}/reports/{third}") + "$"))
    expect(page.get_by_text("Linkthird: misuse of the PNC")).to_be_visible()
    browsing.assert_clean()
