"""Three reporters write one officer's name three ways. In a real browser the reviewer sees one
"same person" link (the collar number, with and without "PC"; the name surname-first) and one
"possible" link ("J. ONeil": an initial and a surname that sounds the same), and confirms it."""

from __future__ import annotations

import pytest
from journeys import add_reviewer, report_about, shoot, sign_in_reviewer
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSPHRASE = "linking-reviewer-harbour-copper-77"


@pytest.fixture
def checker(instance):
    """A lead created before the reports, so that new reports are wrapped to them."""
    from portal.instance import read_secret

    return add_reviewer(instance, "checker", "Sam Checker", PASSPHRASE,
                        blind_index_key=read_secret(instance.directory, "blind_index_key"))


def test_same_person_and_possible_links_and_confirming_one(browsing, reporter, triage, instance, checker, screenshots):
    before = set(instance.references())
    report_about(browsing, reporter, "Spellone: he shouted at a detainee in custody.", "Jon O'Neill", "PC 5582")
    first = (set(instance.references()) - before).pop()
    report_about(browsing, reporter, "Spelltwo: he took cash from a stop.", "O’Neill, John", "5582")
    second = (set(instance.references()) - before - {first}).pop()
    report_about(browsing, reporter, "Spellthree: threats to a colleague.", "J. ONeil", "")
    third = (set(instance.references()) - before - {first, second}).pop()

    page = browsing.new_page()
    sign_in_reviewer(page, triage.url, "checker", PASSPHRASE, checker)

    row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=first, exact=True))
    expect(row.locator(".portal-linked")).to_have_text("1")  # the queue counts same-person links

    page.get_by_role("link", name=first, exact=True).click()
    links = page.locator("#links")
    expect(links.locator(".portal-linked-warning")).to_contain_text("1 other report names the same person")
    expect(links.locator("#same-links li")).to_have_count(1)
    expect(links.locator("#same-links").get_by_role("link", name=second, exact=True)).to_be_visible()
    expect(links.locator("#same-links")).to_contain_text("Same person")
    expect(links.locator("#possible-links li")).to_have_count(1)
    possible = links.locator("#possible-links li")
    expect(possible.get_by_role("link", name=third, exact=True)).to_be_visible()
    expect(possible.get_by_role("button", name="Confirm: same person")).to_be_visible()
    expect(possible.get_by_role("button", name="Reject: not the same person")).to_be_visible()
    links.scroll_into_view_if_needed()
    shoot(page, screenshots, "21-report-same-and-possible-links")

    possible.get_by_role("button", name="Confirm: same person").click()
    expect(page.locator(".govuk-notification-banner, .portal-flash, [role=alert]").first).to_contain_text("Link confirmed")
    expect(page.locator("#possible-links")).to_have_count(0)
    expect(page.locator("#same-links li")).to_have_count(2)
    expect(page.locator("#same-links")).to_contain_text("Confirmed")
    expect(page.locator(".portal-history, #history").first).to_be_visible()
    shoot(page, screenshots, "22-report-possible-link-confirmed")

    page.goto(triage.url + "/")
    expect(row.locator(".portal-linked")).to_have_text("2")  # the confirmed link now counts
    browsing.assert_clean()
