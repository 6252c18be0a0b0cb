"""Reviewer accounts in a real browser: a lead adds a reviewer, who enrols an authenticator and must
choose their own passphrase before anything else; later the lead resets the reviewer's lost sign-in."""

from __future__ import annotations

import re

import pyotp
import pytest
from journeys import add_reviewer, assert_unique_ids, shoot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WARDEN_PASSPHRASE = "warden-copper-lantern-meadow-91"
FIRST_PASSPHRASE = "temporary-walnut-harbour-violin-27"
OWN_PASSPHRASE = "my-own-glacier-mosaic-tangerine-53"


@pytest.fixture
def warden(instance):
    """A lead who manages accounts (created directly: their own passphrase, nothing to replace)."""
    return add_reviewer(instance, "warden", "Sam Warden", WARDEN_PASSPHRASE, receives_new_reports=False)


def _sign_in(page, base: str, login: str, passphrase: str, totp_secret: str | None = None) -> str:
    """Passphrase, then the TOTP code; on a first sign-in the secret is read off the enrolment page."""
    page.goto(base + "/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Passphrase").fill(passphrase)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/login/code(\?.*)?$"))
    if totp_secret is None:
        page.get_by_text("I cannot scan the code").click()
        totp_secret = page.locator(".portal-secret").inner_text().strip()
    page.get_by_label("6-digit code").fill(pyotp.TOTP(totp_secret).now())
    page.get_by_role("button", name="Sign in").click()
    return totp_secret


def test_new_reviewer_chooses_a_passphrase_and_a_lead_resets_a_lost_sign_in(browsing, triage, warden, screenshots):
    lead_page = browsing.new_page()
    _sign_in(lead_page, triage.url, "warden", WARDEN_PASSPHRASE, warden)
    expect(lead_page).to_have_url(triage.url + "/")
    lead_page.locator("header").get_by_role("link", name="Reviewers").click()
    lead_page.get_by_label("Login").fill("newcomer")
    lead_page.get_by_label("Full name").fill("Alex Newcomer")
    lead_page.get_by_label("Reviewer", exact=True).check()
    lead_page.get_by_label("First passphrase").fill(FIRST_PASSPHRASE)
    lead_page.get_by_role("button", name="Add reviewer").click()
    expect(lead_page.locator(".govuk-notification-banner")).to_contain_text("Alex Newcomer (newcomer) can now sign in")
    row = lead_page.locator("tr", has=lead_page.get_by_text("newcomer", exact=True))
    expect(row).to_contain_text("Not yet signed in")

    # Their settings: an address for the daily summary, and the intake pool.
    row.get_by_role("link", name="Alex Newcomer").click()
    expect(lead_page.locator("main h1")).to_have_text("Alex Newcomer")
    lead_page.get_by_label("E-mail address for the summary").fill("alex.newcomer@force.example")
    lead_page.get_by_label("Receives new reports (intake pool)").check()
    assert_unique_ids(lead_page)
    shoot(lead_page, screenshots, "13-reviewer-settings")
    lead_page.get_by_role("button", name="Save").click()
    expect(lead_page).to_have_url(triage.url + "/admin/reviewers")
    expect(lead_page.get_by_text("Saved Alex Newcomer's settings.")).to_be_visible()
    row = lead_page.locator("tr", has=lead_page.get_by_text("newcomer", exact=True))
    expect(row.locator("td").nth(3)).to_have_text("Yes")

    # The newcomer enrols, and is kept on the account page until they choose their own passphrase.
    newcomer = browsing.new_page()
    first_secret = _sign_in(newcomer, triage.url, "newcomer", FIRST_PASSPHRASE)
    expect(newcomer).to_have_url(triage.url + "/account")
    expect(newcomer.locator("#choose-passphrase")).to_contain_text("Choose your own passphrase before you continue")
    shoot(newcomer, screenshots, "14-choose-passphrase")
    newcomer.locator("header").get_by_role("link", name="Queue").click()
    expect(newcomer).to_have_url(triage.url + "/account")
    fingerprint = newcomer.locator("dd code").inner_text()
    newcomer.get_by_label("Current passphrase").fill(FIRST_PASSPHRASE)
    newcomer.get_by_label("New passphrase", exact=True).fill(OWN_PASSPHRASE)
    newcomer.get_by_label("New passphrase again").fill(OWN_PASSPHRASE)
    newcomer.get_by_role("button", name="Set my passphrase").click()
    expect(newcomer).to_have_url(triage.url + "/")
    expect(newcomer.locator(".govuk-notification-banner")).to_contain_text("a new encryption key")
    newcomer.locator("header").get_by_role("link", name="Alex Newcomer").click()
    expect(newcomer.locator("dd code")).not_to_have_text(fingerprint)  # a key only their passphrase opens
    expect(newcomer.get_by_role("button", name="Change passphrase")).to_be_visible()

    # The newcomer loses their phone: the lead resets their sign-in.
    lead_page.goto(triage.url + "/admin/reviewers")
    lead_page.get_by_role("button", name="Reset sign-in for Alex Newcomer").click()
    banner = lead_page.locator(".govuk-notification-banner")
    expect(banner).to_contain_text("Sign-in reset")
    temporary = lead_page.locator("[data-temporary-passphrase]").inner_text().strip()
    assert len(temporary.split("-")) >= 6
    assert_unique_ids(lead_page)
    shoot(lead_page, screenshots, "15-reset-sign-in")

    newcomer.reload()  # the session that held the old key has ended
    expect(newcomer).to_have_url(re.compile(re.escape(triage.url) + r"/login"))
    second_secret = _sign_in(newcomer, triage.url, "newcomer", temporary)  # a new authenticator enrolment
    assert second_secret != first_secret
    expect(newcomer).to_have_url(triage.url + "/account")
    expect(newcomer.locator("#choose-passphrase")).to_be_visible()
    browsing.assert_clean()
