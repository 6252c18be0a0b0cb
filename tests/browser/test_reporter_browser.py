"""The reporter interface in a real browser: with JavaScript (encrypted on the device),
without it (encrypted by the server), and the no-JavaScript validation round trip."""

from __future__ import annotations

import re

import pytest
from journeys import (
    BROWSER_FIELDS,
    BROWSER_REPLY_FIELDS,
    MOBILE,
    Report,
    assert_case_shows,
    assert_form_kept,
    download_evidence,
    fill_form,
    multipart_parts,
    open_form,
    reply,
    send_report,
    shoot,
    sign_in_with_code,
    sign_out_and_check,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_javascript_journey_sends_only_ciphertext_and_follow_up_works(browsing, reporter, screenshots):
    page = browsing.new_page()
    page.goto(reporter.url + "/")
    shoot(page, screenshots, "01-reporter-start")
    open_form(page, reporter.url)
    expect(page.locator("body")).to_have_class(re.compile(r"\bjs-enabled\b"))  # the module scripts ran
    expect(page.get_by_role("button", name="Add another person")).to_be_visible()
    shoot(page, screenshots, "02-report-form")

    report = Report()
    fill_form(page, report)
    before = len(reporter.recorder.bodies("/report"))
    code = send_report(page)
    expect(page).to_have_url(reporter.url + "/report/sent")  # shown in place; the form's history entry replaced (issue 15)
    expect(page).to_have_title("Report sent: your receipt code – Report a concern in confidence")
    expect(page.locator("#receipt-heading")).to_be_focused()
    expect(page.get_by_role("button", name="Copy code")).to_be_visible()
    shoot(page, screenshots, "04-receipt")

    posted = reporter.recorder.bodies("/report")[before:]
    assert len(posted) == 1, f"expected one POST /report, got {len(posted)}"
    body = posted[0]
    parts = multipart_parts(body)
    fields = {name: value for name, _, value in parts}
    assert fields.get("mode") == b"browser", "the report was not encrypted in the browser"
    assert fields.get("urgent") == b"yes"  # "anyone at risk now: yes" flags it without revealing anything else
    unexpected = [name for name, _, _ in parts if not BROWSER_FIELDS.match(name)]
    assert not unexpected, f"fields posted beside the ciphertext: {unexpected}"
    files = [(name, filename) for name, filename, _ in parts if filename is not None]
    assert len(files) == 1 and files[0][1] == "encrypted.bin", files
    assert sum(name.startswith("attachment_meta.") for name in fields) == 1
    lowered = body.lower()
    for what, marker in report.markers().items():
        assert marker.encode() not in body and marker.lower().encode() not in lowered, f"{what} was sent in clear"
    words = code.split()
    for form in (code, "".join(words), "-".join(words)):
        assert form.encode() not in lowered, "the receipt code was sent to the server"

    # Follow up with the code the browser made.
    sign_in_with_code(page, reporter.url, code)
    assert_case_shows(page, report)
    assert download_evidence(page, report.file_name) == report.file_content
    message = f"Replymarker{report.tag}: he did it again last night."
    reply_file = (f"reply-filename{report.tag}.txt", f"Replycontent{report.tag}\n".encode())
    before = len(reporter.recorder.bodies("/follow-up/reply"))
    reply(page, message, reply_file)
    (reply_body,) = reporter.recorder.bodies("/follow-up/reply")[before:]
    parts = multipart_parts(reply_body)
    assert {name: value for name, _, value in parts}.get("mode") == b"browser", "the reply was not sealed in the browser"
    assert not [name for name, _, _ in parts if not BROWSER_REPLY_FIELDS.match(name)], [name for name, _, _ in parts]
    assert [filename for _, filename, _ in parts if filename is not None] == ["encrypted.bin"]
    for marker in (f"Replymarker{report.tag}", f"reply-filename{report.tag}", f"Replycontent{report.tag}"):
        assert marker.lower().encode() not in reply_body.lower(), f"{marker} was sent in clear"
    shoot(page, screenshots, "06-case-conversation")
    assert download_evidence(page, reply_file[0]) == reply_file[1]
    sign_out_and_check(page, reporter.url)
    browsing.assert_clean()


def test_without_javascript_the_server_encrypts_and_follow_up_works(browsing, reporter, screenshots):
    page = browsing.new_page(javascript=False)
    open_form(page, reporter.url)
    expect(page.get_by_role("button", name="Send report")).to_be_visible()
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")
    expect(page.get_by_role("button", name="Add another person")).to_be_visible()  # a submit button: no JavaScript needed

    report = Report(risk_now="no", vulnerable_person="unsure", how_known="told", category="misuse-of-systems")
    fill_form(page, report)
    before = len(reporter.recorder.bodies("/report"))
    code = send_report(page)
    expect(page).to_have_title("Report sent: your receipt code – Report a concern in confidence")
    expect(page.get_by_role("button", name="Copy code")).to_be_hidden()  # js-only
    posted = reporter.recorder.bodies("/report")[before:]
    assert len(posted) == 1
    fields = {name: value for name, _, value in multipart_parts(posted[0])}
    assert "mode" not in fields and fields["what_happened"] == report.what_happened.encode()  # the ordinary form post

    page.locator("main").get_by_role("link", name="Yes, I have written it down").click()  # the receipt's way on
    page.locator("main").get_by_role("link", name="Follow up a report", exact=True).click()
    expect(page).to_have_url(reporter.url + "/follow-up")
    shoot(page, screenshots, "05-follow-up-sign-in")
    sign_in_with_code(page, reporter.url, code)
    assert_case_shows(page, report)
    summary = page.locator("dl.govuk-summary-list").last
    expect(summary).to_contain_text("Not sure")
    expect(summary).to_contain_text("Someone told me")
    assert download_evidence(page, report.file_name) == report.file_content
    before = len(reporter.recorder.bodies("/follow-up/reply"))
    reply(page, f"Noscriptreply{report.tag}", (f"noscript-reply{report.tag}.txt", b"sealed by the server"))
    (reply_body,) = reporter.recorder.bodies("/follow-up/reply")[before:]
    assert {name: value for name, _, value in multipart_parts(reply_body)}.get("message") == f"Noscriptreply{report.tag}".encode()
    assert download_evidence(page, f"noscript-reply{report.tag}.txt") == b"sealed by the server"
    sign_out_and_check(page, reporter.url)
    browsing.assert_clean()


def test_without_javascript_a_missing_answer_keeps_everything_typed(browsing, reporter, screenshots):
    page = browsing.new_page(javascript=False)
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, what_happened=False)
    browsing.expect_status("/report", 400)
    page.get_by_role("button", name="Send report").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Tell us what happened")
    expect(page).to_have_title("Error: Make a report – Report a concern in confidence")
    expect(page.locator("#what_happened-error")).to_contain_text("Tell us what happened")
    assert_form_kept(page, report)
    # Without the one required answer the portal stores nothing, not even the file (cheap checks
    # before expensive work): the reporter is told to attach it again.
    expect(page.locator("#staged-files")).to_have_count(0)
    expect(page.locator(".govuk-error-message", has_text="Attach your files again")).to_be_visible()
    shoot(page, screenshots, "03-form-errors")

    # The summary's link goes to the field; answering it and attaching the file again sends both.
    summary.get_by_role("link", name="Tell us what happened").click()
    expect(page).to_have_url(reporter.url + "/report#what_happened")
    page.fill("#what_happened", report.what_happened)
    page.set_input_files("#evidence", files=[{"name": report.file_name, "mimeType": "text/plain", "buffer": report.file_content}])
    code = send_report(page)
    sign_in_with_code(page, reporter.url, code)
    assert_case_shows(page, report)
    browsing.assert_clean()


def test_javascript_validation_sends_nothing_and_keeps_everything_typed(browsing, reporter):
    page = browsing.new_page()
    open_form(page, reporter.url)
    report = Report()
    fill_form(page, report, what_happened=False)
    before = len(reporter.recorder.bodies("/report"))
    page.get_by_role("button", name="Send report").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Tell us what happened")
    expect(summary).to_be_focused()
    assert_form_kept(page, report)
    assert len(reporter.recorder.bodies("/report")) == before, "the form was posted despite the error"
    summary.get_by_role("link", name="Tell us what happened").click()
    expect(page.locator("#what_happened")).to_be_focused()
    browsing.assert_clean()


def test_report_form_on_a_phone(browsing, reporter, screenshots):
    page = browsing.new_page(viewport=MOBILE)
    page.goto(reporter.url + "/report")
    expect(page.locator("#report-form")).to_be_visible()
    # Nothing wider than the screen: no sideways scrolling on a phone.
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= MOBILE["width"], f"page is {scroll_width}px wide on a {MOBILE['width']}px screen"
    shoot(page, screenshots, "02-report-form-mobile")
    browsing.assert_clean()
