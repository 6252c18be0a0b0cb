"""Issue 15's reporter journey in Chromium: a receipt that reload and Back cannot lose into a second
report, "Add another person" without JavaScript, a reply kept when the session ends, statuses in
plain words, and page loads that log nothing to the console (the Permissions-Policy header)."""

from __future__ import annotations

import pytest
from journeys import MOBILE, Report, fill_form, open_form, send_report, shoot, sign_in_with_code
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}


def _console(page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
    return messages


def test_page_loads_log_no_console_message(browsing, reporter, triage):
    """Every page load logged three Permissions-Policy warnings for features Chromium does not know."""
    for javascript in (True, False):
        page = browsing.new_page(javascript=javascript)
        messages = _console(page)
        for url in (reporter.url + "/", reporter.url + "/report", reporter.url + "/follow-up", triage.url + "/login"):
            response = page.goto(url)
            assert "permissions-policy" in response.headers
            page.wait_for_load_state("load")
        assert messages == [], messages
    browsing.assert_clean()


def _receipt_words(page) -> list[str]:
    grid = page.locator("ol.portal-receipt li")
    expect(grid).to_have_count(8)
    numbers = [n.strip() for n in page.locator(".portal-receipt__number").all_inner_texts()]
    assert numbers == [str(i) for i in range(1, 9)], numbers
    return [w.strip() for w in page.locator("[data-receipt-word]").all_inner_texts()]


def _grid_geometry(page) -> list[tuple[int, int]]:
    """(column, row) of each of the 8 words, as laid out."""
    boxes = [page.locator("ol.portal-receipt li").nth(i).bounding_box() for i in range(8)]
    xs, ys = sorted({round(b["x"]) for b in boxes}), sorted({round(b["y"]) for b in boxes})
    return [(xs.index(round(b["x"])), ys.index(round(b["y"]))) for b in boxes]


GRID = [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]  # 1-4 down the left, 5-8 down the right


@pytest.mark.parametrize("viewport", [PHONE, MOBILE, {"width": 1280, "height": 900}], ids=["360", "390", "desktop"])
def test_with_javascript_reload_and_back_never_invite_a_second_report(browsing, reporter, instance, screenshots, viewport):
    page = browsing.new_page(viewport=viewport)
    open_form(page, reporter.url)
    fill_form(page, Report(), attach=False)
    before = set(instance.references())
    code = send_report(page)
    assert len(set(instance.references()) - before) == 1
    assert _receipt_words(page) == code.split()
    assert _grid_geometry(page) == GRID  # the same grid on a phone and a desktop
    expect(page.locator(".portal-header__nav")).to_have_count(0)  # no menu to leave by accident
    expect(page.get_by_role("heading", name="Have you written down your code?")).to_be_visible()
    expect(page).to_have_url(reporter.url + "/report/sent")  # the form's history entry is gone
    shoot(page, screenshots, f"40-receipt-javascript-{viewport['width']}")

    prompts = len(browsing.leave_prompts)
    page.reload()
    assert len(browsing.leave_prompts) == prompts + 1, "no 'have you written down your code?' prompt before the reload"
    expect(page.get_by_role("heading", name="Your report was received")).to_be_visible()
    expect(page.get_by_text("You do not need to send it again")).to_be_visible()
    expect(page.get_by_text("If you did not write down your code")).to_be_visible()
    assert code.split()[0] not in page.content()
    page.go_back()
    expect(page).to_have_url(reporter.url + "/")  # back to the start page, not to a filled-in form
    assert len(set(instance.references()) - before) == 1
    browsing.assert_clean()


def test_with_javascript_yes_i_have_written_it_down_leaves_without_a_prompt(browsing, reporter):
    page = browsing.new_page()
    open_form(page, reporter.url)
    fill_form(page, Report(), attach=False)
    send_report(page)
    prompts = len(browsing.leave_prompts)
    page.get_by_role("link", name="Yes, I have written it down").click()
    expect(page).to_have_url(reporter.url + "/report/done")
    expect(page.get_by_role("heading", name="Your report was received")).to_be_visible()
    assert len(browsing.leave_prompts) == prompts
    browsing.assert_clean()


def test_without_javascript_reload_and_back_never_invite_a_second_report(browsing, reporter, instance, screenshots):
    page = browsing.new_page(javascript=False, viewport=PHONE)
    open_form(page, reporter.url)
    fill_form(page, Report(), attach=False)
    before = set(instance.references())
    code = send_report(page)
    assert len(set(instance.references()) - before) == 1
    assert _receipt_words(page) == code.split()
    assert _grid_geometry(page) == GRID
    expect(page.locator(".portal-header__nav")).to_have_count(0)
    # The confirm step without JavaScript: the only way on from the receipt.
    leave = page.locator("#leave-receipt")
    expect(leave.get_by_role("heading", name="Have you written down your code?")).to_be_visible()
    expect(leave.get_by_role("link", name="Yes, I have written it down")).to_have_attribute("href", "/report/done")
    shoot(page, screenshots, "41-receipt-no-javascript-360")

    page.reload()  # the browser sends the same form again
    expect(page).to_have_url(reporter.url + "/report/sent")
    expect(page.get_by_role("heading", name="Your report was received")).to_be_visible()
    expect(page.get_by_text("This form has expired")).to_have_count(0)
    expect(page.locator("#report-form")).to_have_count(0)
    assert len(set(instance.references()) - before) == 1, "a reload made a second report"
    shoot(page, screenshots, "42-report-sent-360")

    page.go_back()  # to the form: the browser must not offer the sent answers back, under a fresh token
    expect(page.locator("#report-form")).to_be_visible()
    expect(page.locator("#what_happened")).to_have_value("")
    expect(page.locator("#people-0-name")).to_have_value("")
    page.get_by_role("button", name="Send report").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Tell us what happened")
    assert len(set(instance.references()) - before) == 1, "Back made a second report"


def test_add_another_person_without_javascript_keeps_everything(browsing, reporter, instance, screenshots):
    page = browsing.new_page(javascript=False, viewport=PHONE)
    open_form(page, reporter.url)
    expect(page.locator("fieldset.portal-person")).to_have_count(1)  # one Person block by default
    report = Report(category="misuse-of-systems")
    fill_form(page, report)  # a file chosen too
    page.get_by_role("button", name="Add another person").click()
    expect(page.locator("fieldset.portal-person")).to_have_count(2)
    expect(page.get_by_role("group", name="Person 2")).to_be_visible()
    expect(page.locator("#what_happened")).to_have_value(report.what_happened)
    expect(page.locator("#people-0-name")).to_have_value(report.name)
    expect(page.locator("#people-0-unit")).to_have_value(report.unit)
    expect(page.locator("#when_happened")).to_have_value(report.when)
    expect(page.locator("#witnesses")).to_have_value(report.witnesses)
    expect(page.locator("#risk_now-yes")).to_be_checked()
    expect(page.locator("#category-misuse-of-systems")).to_be_checked()
    expect(page.locator("#people-1-name")).to_have_value("")
    expect(page.locator("#staged-files")).to_contain_text(report.file_name)  # the file was kept, encrypted
    expect(page.locator(".govuk-error-summary")).to_have_count(0)
    shoot(page, screenshots, "43-form-second-person-360")
    page.fill("#people-1-name", f"Secondperson{report.tag}")
    before = set(instance.references())
    code = send_report(page)
    assert len(set(instance.references()) - before) == 1
    page.get_by_role("link", name="Yes, I have written it down").click()
    sign_in_with_code(page, reporter.url, code)
    expect(page.locator("body")).to_contain_text(report.name)
    expect(page.locator("body")).to_contain_text(f"Secondperson{report.tag}")
    expect(page.get_by_role("link", name=report.file_name)).to_be_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_enter_in_a_field_does_not_add_a_person(browsing, reporter, javascript):
    """"Add another person" is a submit button, but not the form's default one."""
    page = browsing.new_page(javascript=javascript)
    browsing.expect_status("/report", 400)
    open_form(page, reporter.url)
    page.locator("#when_happened").fill("Last week")
    page.locator("#when_happened").press("Enter")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Tell us what happened")  # it tried to send
    expect(page.locator("fieldset.portal-person")).to_have_count(1)
    expect(page.locator("#when_happened")).to_have_value("Last week")
    browsing.assert_clean()


def test_the_form_fits_a_phone_and_send_is_a_few_tabs_away(browsing, reporter, screenshots):
    page = browsing.new_page(viewport=PHONE)
    open_form(page, reporter.url)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the form scrolls sideways on a phone ({width} px)"
    for label in page.locator("#category .govuk-radios__label").all():
        box = label.bounding_box()
        assert box["x"] + box["width"] <= PHONE["width"], label.inner_text()
        assert label.evaluate("el => el.scrollWidth <= el.clientWidth"), f"cut off: {label.inner_text()}"
    shoot(page, screenshots, "44-form-360")
    page.locator("body").focus()
    tabs = 0
    while tabs < 60:
        page.keyboard.press("Tab")
        tabs += 1
        focused = page.evaluate("() => [document.activeElement.id, document.activeElement.getAttribute('href')]")
        if focused[0] == "send-report":
            break
        if focused[1] == "#send":  # "Skip to Send report"
            page.keyboard.press("Enter")
            page.keyboard.press("Tab")
            tabs += 1
            expect(page.locator("#send-report")).to_be_focused()
            break
    assert tabs <= 8, f"{tabs} Tabs to reach Send report"


def _end_session(instance) -> None:
    """The follow-up session ends on the server (idle timeout), while the page stays open."""
    from sqlalchemy import delete

    from portal.db import Database
    from portal.sessions import ServerSession

    db = Database(instance.database_url)
    try:
        with db.transaction() as session:
            session.execute(delete(ServerSession))
    finally:
        db.dispose()


def _sent_report(browsing, reporter, javascript: bool) -> tuple[object, str, Report]:
    page = browsing.new_page(javascript=javascript)
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, attach=False)
    code = send_report(page)
    page.get_by_role("link", name="Yes, I have written it down").click()
    return page, code, report


def test_with_javascript_a_reply_survives_the_session_ending(browsing, reporter, instance, screenshots):
    page, code, report = _sent_report(browsing, reporter, javascript=True)
    sign_in_with_code(page, reporter.url, code)
    expect(page.locator("#case-opened")).to_be_visible(timeout=30_000)
    text = f"Replyafterexpiry{report.tag}: he did it again."
    page.get_by_label("Your message").fill(text)
    _end_session(instance)
    browsing.expect_status("/follow-up/reply", 401)
    page.get_by_role("button", name="Send", exact=True).click()
    error = page.locator("#message-error")
    expect(error).to_contain_text("You were signed out before your message was sent")
    expect(error).not_to_contain_text("Try again in a few minutes")
    expect(page.get_by_label("Your message")).to_have_value(text)  # kept, on this page only
    shoot(page, screenshots, "45-reply-session-ended-javascript")

    # Signing in again in a new tab lets this page's Send work: the text was never lost.
    with page.context.expect_page() as opened:
        page.locator("#sign-in-again").click()
    other = opened.value
    browsing.watch(other)
    other.get_by_label("Your receipt code").fill(code)
    other.get_by_role("button", name="Continue").click()
    expect(other).to_have_url(reporter.url + "/follow-up/case")
    other.close()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Your message has been encrypted and sent to the reviewers.")).to_be_visible(timeout=30_000)
    expect(page.locator(".portal-message--reporter").last).to_contain_text(text)
    browsing.assert_clean()


def test_without_javascript_a_reply_survives_the_session_ending(browsing, reporter, instance, screenshots):
    page, code, report = _sent_report(browsing, reporter, javascript=False)
    sign_in_with_code(page, reporter.url, code)
    text = f"Replyafterexpiry{report.tag}: and the week before."
    page.get_by_label("Your message").fill(text)
    _end_session(instance)
    browsing.expect_status("/follow-up/reply", 401)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("heading", name="Your message was not sent")).to_be_visible()
    expect(page.locator("#session-ended")).to_contain_text("You were signed out before you pressed Send")
    expect(page.locator("#kept-message")).to_have_value(text)
    expect(page.get_by_label("Your receipt code")).to_be_visible()  # the way to sign in again, on the same page
    shoot(page, screenshots, "46-reply-session-ended-no-javascript")
    kept = page.locator("#kept-message").input_value()
    page.get_by_label("Your receipt code").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(reporter.url + "/follow-up/case")
    page.get_by_label("Your message").fill(kept)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".portal-message--reporter").last).to_contain_text(text)
    browsing.assert_clean()


def test_statuses_are_explained_in_plain_words(browsing, reporter, instance, screenshots):
    from journeys import set_stage

    page, code, _ = _sent_report(browsing, reporter, javascript=True)
    reference = set_stage(instance)
    page.set_viewport_size(PHONE)
    sign_in_with_code(page, reporter.url, code)
    expect(page.locator("#report-status")).to_have_text("Received")
    expect(page.locator("#status-explanation")).to_contain_text("within 7 days")
    shoot(page, screenshots, "47-case-received-360")

    set_stage(instance, reference, stage="escalated", escalation_route="external-oversight")
    page.reload()
    expect(page.locator("#report-status")).to_have_text("Referred for investigation")
    expect(page.locator("#status-explanation")).to_contain_text("This does not identify you")

    set_stage(instance, reference, stage="closed", outcome="no-further-action")
    page.reload()
    expect(page.locator("#report-status")).to_have_text("Closed: no further action")
    expect(page.locator("#status-explanation")).to_contain_text("You can still add new information")
    expect(page.locator("#case-opened")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Add new information")).to_be_visible()
    expect(page.locator("#message-hint")).to_contain_text("The report stays closed")
    shoot(page, screenshots, "48-case-closed-360")

    set_stage(instance, reference, outcome="action-taken")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    expect(page.locator("#report-status")).to_have_text("Closed: action taken")
    shoot(page, screenshots, "49-case-closed-desktop")
    browsing.assert_clean()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 1280, "height": 900}], ids=["phone", "desktop"])
def test_start_page_and_form_screenshots(browsing, reporter, screenshots, viewport):
    page = browsing.new_page(viewport=viewport)
    page.goto(reporter.url + "/")
    other_ways = page.locator("#other-ways + p + ul")
    for name, site in (("Independent Office for Police Conduct (IOPC)", "https://www.policeconduct.gov.uk/"),
                       ("Crimestoppers", "https://crimestoppers-uk.org/"), ("Protect", "https://protect-advice.org.uk/")):
        expect(other_ways.get_by_role("link", name=name)).to_have_attribute("href", site)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    shoot(page, screenshots, f"50-start-{viewport['width']}")
    open_form(page, reporter.url)
    shoot(page, screenshots, f"51-form-{viewport['width']}")
    browsing.assert_clean()
