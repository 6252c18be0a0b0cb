"""Sessions in a real browser (issue 13): a reviewer signed in on two computers signs out everywhere
from the account page; a lead signs another reviewer out everywhere from the reviewers page."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from journeys import add_reviewer, assert_unique_ids, shoot
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LEAD_PASSPHRASE = "harbour-lantern-copper-meadow-72"
ALEX_PASSPHRASE = "violin-glacier-mosaic-walnut-38"


def _sign_in(page, base: str, login: str, passphrase: str, totp_secret: str, step_offset: int = 0) -> None:
    """Passphrase, then a code (the next step's for a second computer: a code works once)."""
    page.goto(base + "/login")
    page.get_by_label("Login").fill(login)
    page.get_by_label("Passphrase").fill(passphrase)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/login/code(\?.*)?$"))
    page.get_by_label("6-digit code").fill(pyotp.TOTP(totp_secret).at(time.time() + 30 * step_offset))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/")


def _signed_out(page, base: str) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(re.escape(base) + r"/login(\?.*)?$"))


def test_sign_out_everywhere_and_a_lead_ending_someone_elses_sessions(browsing, triage, instance, screenshots):
    lead_secret = add_reviewer(instance, "morgan", "Morgan Lead", LEAD_PASSPHRASE, receives_new_reports=False)
    alex_secret = add_reviewer(instance, "alex", "Alex Reviewer", ALEX_PASSPHRASE, receives_new_reports=False)

    # Alex on two computers; the lead ends both sessions from the reviewers page.
    alex_desk, alex_laptop = browsing.new_page(), browsing.new_page()
    _sign_in(alex_desk, triage.url, "alex", ALEX_PASSPHRASE, alex_secret)
    _sign_in(alex_laptop, triage.url, "alex", ALEX_PASSPHRASE, alex_secret, step_offset=1)
    lead = browsing.new_page()
    _sign_in(lead, triage.url, "morgan", LEAD_PASSPHRASE, lead_secret)
    lead.locator("header").get_by_role("link", name="Reviewers").click()
    row = lead.locator("tr", has=lead.get_by_text("alex", exact=True))
    expect(row.get_by_role("button", name="Sign out everywhere")).to_be_visible()
    assert_unique_ids(lead)
    shoot(lead, screenshots, "13b-reviewers-sign-out-everywhere")
    row.get_by_role("button", name="Sign out everywhere").click()
    expect(lead.locator(".govuk-notification-banner")).to_contain_text(
        "Alex Reviewer (alex) is signed out everywhere: 2 sessions ended.")
    shoot(lead, screenshots, "13b-reviewer-signed-out-everywhere")
    _signed_out(alex_desk, triage.url)
    _signed_out(alex_laptop, triage.url)

    # The lead, on a second computer too, signs out everywhere from their account page.
    lead_laptop = browsing.new_page()
    _sign_in(lead_laptop, triage.url, "morgan", LEAD_PASSPHRASE, lead_secret, step_offset=1)
    lead.locator("header").get_by_role("link", name="Morgan Lead").click()  # the account page
    expect(lead.get_by_role("heading", name="Where you are signed in")).to_be_visible()
    assert_unique_ids(lead)
    shoot(lead, screenshots, "13b-account-sign-out-everywhere")
    lead.get_by_role("button", name="Sign out everywhere").click()
    expect(lead.get_by_text("You have signed out on every computer.")).to_be_visible()
    shoot(lead, screenshots, "13b-signed-out-everywhere")
    _signed_out(lead_laptop, triage.url)
    browsing.assert_clean()
