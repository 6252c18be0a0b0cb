"""Closure approval in a real browser: one lead proposes closing a report the reporter flagged as
urgent (after recategorising it "other"); a second lead, who could not read it before, finds it
waiting in their queue and approves; the history names both, by display name and login."""

from __future__ import annotations

import re

import pytest
from journeys import add_reviewer, assert_unique_ids, shoot, sign_in_reviewer
from playwright.sync_api import expect
from triage_support import seed_report

pytestmark = pytest.mark.browser

PROPOSER_PASSPHRASE = "closure-proposer-lantern-meadow-9"
APPROVER_PASSPHRASE = "closure-approver-granite-orchard-4"
REASON = ("The other force's professional standards department has taken the matter on and leads the "
          "investigation; we have sent them everything we hold.")


@pytest.fixture(scope="module")
def leads(instance):
    """The proposer (in the intake pool) and an approver who receives no new reports."""
    from portal.instance import read_secret

    blind = read_secret(instance.directory, "blind_index_key")
    return {
        "proposer": add_reviewer(instance, "closelead", "Cara Mensah", PROPOSER_PASSPHRASE, blind_index_key=blind),
        "approver": add_reviewer(instance, "approvelead", "Dev Rao", APPROVER_PASSPHRASE, receives_new_reports=False,
                                 blind_index_key=blind),
    }


def sign_in(page, base: str, login: str, passphrase: str, secret: str) -> None:
    sign_in_reviewer(page, base, login, passphrase, secret)


def test_a_second_lead_approves_a_closure_proposed_by_the_first(browsing, triage, instance, leads, screenshots):
    from portal.db import Database

    db = Database(instance.database_url)
    try:
        reference = seed_report(db, instance.directory, "My sergeant keeps visiting a domestic abuse victim off duty.",
                                risk_now="yes", vulnerable_person="yes", category="sexual-abuse-of-position")[0]
    finally:
        db.dispose()

    # The first lead recategorises it "other" and proposes closing it as referred elsewhere.
    page = browsing.new_page()
    sign_in(page, triage.url, "closelead", PROPOSER_PASSPHRASE, leads["proposer"])
    page.goto(f"{triage.url}/reports/{reference}")
    page.get_by_label("Category").select_option(label="Other")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Category, risk flags and priority saved.")).to_be_visible()
    expect(page.get_by_text("Flagged high-risk")).to_be_visible()
    page.get_by_label("Referred to another body, which now leads").check()
    page.get_by_label("Another body has taken it on and now leads").check()
    page.locator("#close-reason").fill("Sent on.")
    page.get_by_role("button", name="Close report").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("at least 40 characters")
    expect(page.locator("#close-reason")).to_have_value("Sent on.")  # what was typed is kept
    page.locator("#close-reason").fill(REASON)
    page.get_by_role("button", name="Close report").click()
    expect(page).to_have_url(f"{triage.url}/reports/{reference}")
    banner = page.locator(".govuk-notification-banner[role=alert]")
    expect(banner).to_contain_text("Closure proposed, not yet closed")
    expect(banner).to_contain_text("Dev Rao (approvelead)")
    expect(page.locator("#flash-title")).to_have_count(0)  # no "Done" beside "must approve"
    expect(page.get_by_role("heading", name="Approve closure")).to_have_count(0)  # never for the proposer
    expect(page.locator("#closure-pending")).to_contain_text("You proposed it")
    assert_unique_ids(page)
    shoot(page, screenshots, "30-closure-proposed")

    # The second lead finds it waiting in their queue, with a count in the header.
    second = browsing.new_page()
    sign_in(second, triage.url, "approvelead", APPROVER_PASSPHRASE, leads["approver"])
    row = second.locator("tr.portal-queue__row", has=second.get_by_role("link", name=reference, exact=True))
    expect(row).to_contain_text("Awaiting your approval")
    expect(second.locator("#approvals-link")).to_contain_text("Awaiting your approval")
    shoot(second, screenshots, "31-queue-awaiting-approval")
    second.locator("#approvals-link").click()
    expect(second).to_have_url(re.compile(r".*attention=approval"))
    expect(row).to_have_count(1)
    row.get_by_role("link", name=reference, exact=True).click()
    expect(second.locator("#closure-pending")).to_contain_text("It is awaiting your approval")
    expect(second.get_by_text(REASON)).to_be_visible()  # the proposer's reason, in the notes
    second.get_by_label("Approve the closure as proposed").check()
    assert_unique_ids(second)
    shoot(second, screenshots, "32-approve-closure")
    second.get_by_role("button", name="Record decision").click()
    expect(second.get_by_text("Closure approved: the report is closed.")).to_be_visible()
    expect(second.locator(".portal-statusline")).to_contain_text("Closed")
    expect(second.locator("#approvals-link")).to_have_count(0)  # the header's count follows at once

    # The history names both, by display name and login.
    history = second.locator("table.portal-history")
    expect(history.locator("tr", has_text="closure requested")).to_contain_text("Cara Mensah (closelead)")
    expect(history.locator("tr", has_text="closure approved")).to_contain_text("Dev Rao (approvelead)")
    second.locator("#history").scroll_into_view_if_needed()
    shoot(second, screenshots, "33-history-both-logins")


def test_a_reply_after_closure_comes_back_to_the_queue_until_someone_decides(browsing, reporter, triage, instance, leads,
                                                                             screenshots):
    from journeys import reply, sign_in_with_code

    from portal.db import Database

    db = Database(instance.database_url)
    try:
        reference, code = seed_report(db, instance.directory, "The duty inspector ignores complaints about one PC.")
    finally:
        db.dispose()
    page = browsing.new_page()
    sign_in(page, triage.url, "closelead", PROPOSER_PASSPHRASE, leads["proposer"])
    page.goto(f"{triage.url}/reports/{reference}")
    page.get_by_label("Category").select_option(label="Failure to report or cover-up")
    page.get_by_role("button", name="Save").click()
    page.get_by_label("No further action").check()
    page.get_by_label("Not enough information to act on, and the reporter cannot add more").check()
    page.locator("#close-reason").fill("No names, dates or places, and the reporter did not answer our two questions.")
    page.get_by_role("button", name="Close report").click()
    expect(page.get_by_text("Report closed.")).to_be_visible()

    # The reporter comes back with their code and adds what was missing.
    reporter_page = browsing.new_page()
    sign_in_with_code(reporter_page, reporter.url, code)
    reply(reporter_page, "It is PC Example at the central station; it happened again on Friday night.")

    # On the next queue load the report is back in front of the lead, marked and counted.
    page.goto(triage.url + "/?attention=new-information")
    row = page.locator("tr.portal-queue__row", has=page.get_by_role("link", name=reference, exact=True))
    expect(row).to_contain_text("New information after closure")
    expect(row).to_contain_text("Reporter replied: unread")
    shoot(page, screenshots, "34-queue-new-information")
    row.get_by_role("link", name=reference, exact=True).click()
    banner = page.locator("#new-information")
    expect(banner).to_contain_text("The reporter wrote after this report was closed")
    page.get_by_label("Reopen the report").check()
    page.locator("#new-information-reason").fill("A name and a date: enough to make enquiries.")
    assert_unique_ids(page)
    shoot(page, screenshots, "35-new-information-decision")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Report reopened because of the reporter's new information.")).to_be_visible()
    expect(page.locator("#new-information")).to_have_count(0)
    expect(page.locator(".portal-statusline")).to_contain_text("Being assessed")
